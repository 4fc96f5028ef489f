#!/usr/bin/env python3
"""Counts the pixels of a PNG screenshot close to the HTML report's cycle red
(#c62828) and fails unless there are at least MIN of them: the SVG graph was
drawn, not just the page's text. Used by .ci/run on Chromium's screenshot of
`lockgraph check --format html`. Standard library only (8-bit RGB or RGBA,
non-interlaced PNGs, which is what Chromium writes).

usage: png_red_pixels.py FILE.png MIN
"""
import struct
import sys
import zlib


def pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"{path}: not a PNG file")
    pos, idat, width, height, channels = 8, b"", 0, 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            channels = {2: 3, 6: 4}.get(color)
            if depth != 8 or channels is None or interlace:
                sys.exit(f"{path}: unsupported PNG (depth {depth}, color type {color}, interlace {interlace})")
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    rows = []
    i = 0
    for _ in range(height):
        kind = raw[i]
        line = bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - channels] if x >= channels else 0
            b = prev[x]
            c = prev[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + b) & 255
            elif kind == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        rows.append(line)
        prev = line
    return width, height, channels, rows


def main():
    path, minimum = sys.argv[1], int(sys.argv[2])
    width, height, channels, rows = pixels(path)
    red = 0
    for line in rows:
        for x in range(0, len(line), channels):
            r, g, b = line[x], line[x + 1], line[x + 2]
            if r > 150 and g < 90 and b < 90:
                red += 1
    print(f"{path}: {width}x{height}, {red} cycle-red pixels")
    if red < minimum:
        sys.exit(f"{path}: fewer than {minimum} cycle-red pixels: the graph was not drawn")


if __name__ == "__main__":
    main()

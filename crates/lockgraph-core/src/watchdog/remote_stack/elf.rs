//! An ELF file's dynamic symbol table, read for one question: does the
//! file import a symbol (an undefined entry of its `.dynsym`)?

#[cfg_attr(not(target_env = "gnu"), allow(dead_code))]
/// Whether an ELF file's dynamic symbol table has `name` as an undefined
/// (imported) symbol; `None` when the bytes are not an ELF file with one.
pub(super) fn elf_imports(elf: &[u8], name: &[u8]) -> Option<bool> {
    if elf.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match elf.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big = match elf.get(5)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let int = |at: usize, len: usize| -> Option<u64> {
        let b = elf.get(at..at.checked_add(len)?)?;
        let mut v = 0u64;
        for i in 0..len {
            let byte = if big { b[i] } else { b[len - 1 - i] };
            v = (v << 8) | u64::from(byte);
        }
        Some(v)
    };
    let word = |at: usize| int(at, if wide { 8 } else { 4 }).map(|v| v as usize);
    let (shoff, shentsize, shnum) = if wide {
        (word(0x28)?, int(0x3a, 2)? as usize, int(0x3c, 2)? as usize)
    } else {
        (word(0x20)?, int(0x2e, 2)? as usize, int(0x30, 2)? as usize)
    };
    // (type, offset, size, link, entsize) of section `i`.
    let section = |i: usize| -> Option<(u64, usize, usize, usize, usize)> {
        let at = shoff.checked_add(i.checked_mul(shentsize)?)?;
        if wide {
            Some((
                int(at + 4, 4)?,
                word(at + 24)?,
                word(at + 32)?,
                int(at + 40, 4)? as usize,
                word(at + 56)?,
            ))
        } else {
            Some((
                int(at + 4, 4)?,
                word(at + 16)?,
                word(at + 20)?,
                int(at + 24, 4)? as usize,
                word(at + 36)?,
            ))
        }
    };
    const SHT_DYNSYM: u64 = 11;
    for i in 0..shnum {
        let (kind, off, size, link, entsize) = section(i)?;
        if kind != SHT_DYNSYM || entsize == 0 {
            continue;
        }
        let (_, str_off, str_size, _, _) = section(link)?;
        let strings = elf.get(str_off..str_off.checked_add(str_size)?)?;
        for s in 0..size / entsize {
            let at = off.checked_add(s.checked_mul(entsize)?)?;
            let name_at = int(at, 4)? as usize;
            let shndx = if wide {
                int(at + 6, 2)?
            } else {
                int(at + 14, 2)?
            };
            let rest = strings.get(name_at..)?;
            let end = rest.iter().position(|&b| b == 0)?;
            if &rest[..end] == name && shndx == 0 {
                return Some(true);
            }
        }
        return Some(false);
    }
    None
}

//! What parsing a line of JSON would take, estimated from its text before
//! it is parsed ([`Limits::parse_bytes`](super::Limits::parse_bytes)).
//!
//! The estimate follows what `serde_json` builds for a `Value` (measured
//! with glibc's allocator, as peak RSS): every value is a 32-byte slot; an
//! array's slots are a `Vec` that grows by doubling from four; a string,
//! key or value, is an allocation of its text and the allocator's share; an
//! object is a B-tree whose nodes (632 bytes, eleven entries) hold five to
//! eleven entries each. Measured against the estimate, parsing took 0.5 to
//! 1.0 times it: an object of a million small keys 134 MiB (estimated 165),
//! a million `{"k":0}` 671 MiB (832), four million numbers 122 MiB (252:
//! the room to grow is charged whole), a 58 MiB dump of 5,447 threads with
//! two 48-frame stacks 120 MiB (169).

/// A `Value`: an array's element or a node's entry holds one.
const SLOT: u64 = 32;
/// An array's element: its slot, and as much again of the room the array
/// keeps to grow (it doubles when full).
const ELEMENT: u64 = 2 * SLOT;
/// A non-empty array's first allocation: room for four, and the
/// allocator's share.
const ARRAY: u64 = 4 * SLOT;
/// A string's (or key's) allocation beyond its text, which the line's
/// length counts: the allocator rounds a small one up to 32 bytes.
const STRING: u64 = 32;
/// A non-empty object's first B-tree node (632 bytes, and the
/// allocator's share).
const OBJECT: u64 = 640;
/// An object's entry: its share of the B-tree's nodes, which hold five to
/// eleven entries (a million keys in order took 105 bytes each; 128 is a
/// node five-and-a-half full), its value's slot included.
const ENTRY: u64 = 128;

/// What parsing a line of JSON builds, counted before it is parsed.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Shape {
    /// The line's length.
    pub(super) len: u64,
    /// Values, at most: one, plus one per comma and per opening bracket
    /// outside strings.
    pub(super) values: u64,
    /// Objects: opening braces outside strings.
    pub(super) objects: u64,
    /// Arrays: opening brackets outside strings.
    pub(super) arrays: u64,
    /// Objects with nothing in them (`{}`, `{ }`): they allocate nothing.
    pub(super) empty_objects: u64,
    /// Arrays with nothing in them (`[]`): they allocate nothing.
    pub(super) empty_arrays: u64,
    /// Object entries: colons outside strings.
    pub(super) keys: u64,
    /// Strings, keys included: opening quotes outside strings.
    pub(super) strings: u64,
}

impl Shape {
    pub(super) fn of(raw: &[u8]) -> Shape {
        let mut shape = Shape {
            len: raw.len() as u64,
            values: 1,
            objects: 0,
            arrays: 0,
            empty_objects: 0,
            empty_arrays: 0,
            keys: 0,
            strings: 0,
        };
        let mut in_string = false;
        let mut escaped = false;
        // The last byte outside strings that is not white space.
        let mut last = 0u8;
        for &b in raw {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => {
                        in_string = false;
                        last = b'"';
                    }
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => {
                    in_string = true;
                    shape.strings += 1;
                }
                b',' => shape.values += 1,
                b'[' => {
                    shape.values += 1;
                    shape.arrays += 1;
                }
                b'{' => {
                    shape.values += 1;
                    shape.objects += 1;
                }
                b':' => shape.keys += 1,
                b']' if last == b'[' => shape.empty_arrays += 1,
                b'}' if last == b'{' => shape.empty_objects += 1,
                _ => {}
            }
            if !b.is_ascii_whitespace() {
                last = b;
            }
        }
        shape
    }

    /// The memory parsing it takes, at most about (see the module's
    /// figures): its text (the strings' contents), each string's
    /// allocation, each array's first allocation and its elements with
    /// their room to grow, each object's first node and its entries' share
    /// of the nodes.
    pub(super) fn parse_bytes(&self) -> u64 {
        let empty = self.empty_objects + self.empty_arrays;
        // `values` counts the line's own value, and for each container an
        // element per comma and one for its opening bracket (its first
        // element, which an empty one has not). The objects' entries are
        // in their nodes (`ENTRY`); the rest are arrays' elements.
        let elements = self.values.saturating_sub(1 + self.keys + empty);
        self.len
            + STRING * self.strings
            + ELEMENT * elements
            + ARRAY * self.arrays.saturating_sub(self.empty_arrays)
            + OBJECT * self.objects.saturating_sub(self.empty_objects)
            + ENTRY * self.keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_line_shape_counts_what_parsing_would_build() {
        let shape = |t: &str| {
            let s = Shape::of(t.as_bytes());
            (s.values, s.objects)
        };
        assert_eq!(shape("0"), (1, 0));
        assert_eq!(shape("[0,0,0]"), (4, 0));
        assert_eq!(shape(r#"{"a":[1,2],"b":{}}"#), (6, 2));
        // Commas and brackets in strings, escaped quotes included, are text.
        assert_eq!(shape(r#"{"a":"x,[{\",y"}"#), (2, 1));
        // Never fewer than the values parsing builds.
        fn count(v: &Value) -> (u64, u64) {
            let inner = match v {
                Value::Array(a) => a.iter().map(count).collect(),
                Value::Object(o) => o.values().map(count).collect(),
                _ => Vec::new(),
            };
            inner
                .iter()
                .fold((1, u64::from(v.is_object())), |(vs, os), (v, o)| {
                    (vs + v, os + o)
                })
        }
        for text in [
            "[[],[0],{\"k\":[1,2,3]}]",
            "[1,2,3,4,5]",
            "{\"a\":{\"b\":{\"c\":[\"]\",\"\\\\\"]}}}",
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            let (values, objects) = count(&v);
            let got = Shape::of(text.as_bytes());
            assert!(got.values >= values, "{text}");
            assert_eq!(got.objects, objects, "{text}");
        }
    }

    #[test]
    fn keys_strings_and_empty_containers_are_counted_as_parsing_finds_them() {
        // (keys, strings, empty objects, empty arrays) in what parsing
        // builds.
        fn count(v: &Value) -> [u64; 4] {
            let (own, inner): ([u64; 4], Vec<[u64; 4]>) = match v {
                Value::String(_) => ([0, 1, 0, 0], Vec::new()),
                Value::Array(a) => (
                    [0, 0, 0, u64::from(a.is_empty())],
                    a.iter().map(count).collect(),
                ),
                Value::Object(o) => (
                    [o.len() as u64, o.len() as u64, u64::from(o.is_empty()), 0],
                    o.values().map(count).collect(),
                ),
                _ => ([0; 4], Vec::new()),
            };
            inner.iter().fold(own, |mut acc, c| {
                for (a, c) in acc.iter_mut().zip(c) {
                    *a += c;
                }
                acc
            })
        }
        for text in [
            r#"{"a":[1,"2",[]],"b":{ },"c":[ ],"d":{"e":"f:,{[\"\\"}}"#,
            r#"[{},[],[{}],"x",{"k":[ {"l":[]} ]}]"#,
            r#""a string alone""#,
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            let s = Shape::of(text.as_bytes());
            assert_eq!(
                [s.keys, s.strings, s.empty_objects, s.empty_arrays],
                count(&v),
                "{text}"
            );
        }
    }

    #[test]
    fn the_estimate_charges_what_each_part_allocates() {
        let est = |t: &str| Shape::of(t.as_bytes()).parse_bytes();
        let len = |t: &str| t.len() as u64;
        // A string: its allocation.
        assert_eq!(est(r#""abc""#), 5 + STRING);
        // An array of n numbers: its first allocation, n elements.
        let nums = "[0,0,0]";
        assert_eq!(est(nums), len(nums) + ARRAY + 3 * ELEMENT);
        // An object of two keys: its node, two entries, two keys.
        let obj = r#"{"a":0,"b":1}"#;
        assert_eq!(est(obj), len(obj) + OBJECT + 2 * ENTRY + 2 * STRING);
        // Empty containers allocate nothing: each is one element of its
        // array; an empty object beside a full array is not taken for it.
        let empty = "[{},[],[ ]]";
        assert_eq!(est(empty), len(empty) + ARRAY + 3 * ELEMENT);
        let mixed = r#"[{"a":[]},{"b":[]}]"#;
        assert_eq!(
            est(mixed),
            len(mixed) + ARRAY + 2 * ELEMENT + 2 * (OBJECT + ENTRY + STRING)
        );
    }
}

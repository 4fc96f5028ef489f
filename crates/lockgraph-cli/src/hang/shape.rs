//! What parsing a line of JSON would take, estimated from its text before
//! it is parsed ([`Limits::parse_bytes`](super::Limits::parse_bytes)).

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
}

impl Shape {
    pub(super) fn of(raw: &[u8]) -> Shape {
        let mut shape = Shape {
            len: raw.len() as u64,
            values: 1,
            objects: 0,
        };
        let mut in_string = false;
        let mut escaped = false;
        for &b in raw {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => in_string = true,
                    b',' | b'[' => shape.values += 1,
                    b'{' => {
                        shape.values += 1;
                        shape.objects += 1;
                    }
                    _ => {}
                }
            }
        }
        shape
    }

    /// The memory parsing it takes, about: its text, a slot for each value
    /// (and each key), and a map node for each object (a `serde_json` object
    /// is a B-tree: one entry costs a node of eleven).
    pub(super) fn parse_bytes(&self) -> u64 {
        self.len + 48 * self.values + 640 * self.objects
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
}

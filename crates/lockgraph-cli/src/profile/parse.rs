//! Reading one profile file: its size, its JSON, its version, and every
//! class entry's fields, each error naming the file, the position and the
//! field at fault.

use std::fmt;
use std::io::{self, Read};
use std::path::Path;

use lockgraph_core::profile::Counters;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

use super::types::{invalid, ProfileFile, MAX_FILE_BYTES, PROFILE_VERSION};
use crate::error::Error;
use crate::position::{json_error_at, json_message, without_position};
/// serde_json's message without its " at line L column C" suffix, and its
/// position in `bytes`, the file it read (line and column in characters),
/// when it has one.
fn json_error(bytes: &[u8], e: &serde_json::Error) -> (Option<(usize, usize)>, String) {
    (json_error_at(bytes, e), json_message(e))
}

/// Reads one profile file.
pub fn read_file(path: &Path) -> Result<ProfileFile, Error> {
    let cannot = |e: &io::Error| {
        invalid(
            path,
            None,
            format!("cannot read it: {}", crate::error::lower(e)),
        )
    };
    crate::files::check_regular(path)?;
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(&e))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(invalid(
            path,
            None,
            format!(
                "larger than {} MiB, the limit for a profile file",
                MAX_FILE_BYTES >> 20
            ),
        ));
    }
    parse(path, &bytes)
}

/// `T` from a JSON object only (derived structs also accept arrays).
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Object<T>, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData)).map(Object)
    }
}

/// Only the version; serde skips every other field without building values.
#[derive(Deserialize)]
struct VersionOnly {
    lockgraph_profile: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct FileDe {
    #[serde(default)]
    pid: u64,
    #[serde(default)]
    exe: String,
    classes: Classes,
    /// Absent in files of processes that counted no queue, and in files
    /// written before it was added.
    #[serde(default)]
    pipeline: Option<serde_json::Value>,
}

/// The class entries; an entry's error names its index.
struct Classes(Vec<Counters>);

impl<'de> Deserialize<'de> for Classes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Classes, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Classes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of class entries")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Classes, A::Error> {
                let mut out = Vec::new();
                loop {
                    match seq.next_element::<Object<ClassDe>>() {
                        Ok(Some(Object(c))) => out.push(c.into()),
                        Ok(None) => return Ok(Classes(out)),
                        Err(e) => {
                            // serde_json positions the wrapped error itself.
                            let full = e.to_string();
                            let msg = without_position(&full);
                            // Named as a JSON path, counted from 0 like
                            // the baseline's (`cycles[0].locks[1]`).
                            return Err(de::Error::custom(format!(
                                "classes[{}]: {msg}",
                                out.len()
                            )));
                        }
                    }
                }
            }
        }
        d.deserialize_seq(V)
    }
}

/// A nullable field that must still be present.
fn nullable<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Option::<String>::deserialize(d)
}

/// One class entry: every field required (the nullable ones may be null).
#[derive(Deserialize)]
struct ClassDe {
    class: String,
    #[serde(deserialize_with = "nullable")]
    name: Option<String>,
    kind: String,
    #[serde(deserialize_with = "nullable")]
    site: Option<String>,
    acquisitions: u64,
    contended: u64,
    wait_ns: u64,
    max_wait_ns: u64,
    reads: u64,
    hold_samples: u64,
    hold_ns: u64,
    max_hold_ns: u64,
    waiting_threads: u64,
    blocking_calls: u64,
    blocking_ns: u64,
    #[serde(deserialize_with = "nullable")]
    blocking_what: Option<String>,
}

impl From<ClassDe> for Counters {
    fn from(c: ClassDe) -> Counters {
        Counters {
            // As records: a dependency's site without the CARGO_HOME path,
            // also in profiles written before the runtime wrote it so.
            class: lockgraph_core::site_key::class_id(&c.class).into_owned(),
            name: c.name,
            kind: c.kind,
            site: c.site,
            acquisitions: c.acquisitions,
            contended: c.contended,
            wait_ns: c.wait_ns,
            max_wait_ns: c.max_wait_ns,
            reads: c.reads,
            hold_samples: c.hold_samples,
            hold_ns: c.hold_ns,
            max_hold_ns: c.max_hold_ns,
            waiting_threads: c.waiting_threads,
            blocking_calls: c.blocking_calls,
            blocking_ns: c.blocking_ns,
            blocking_what: c.blocking_what,
        }
    }
}

/// Parses a profile file's bytes; `path` names it in messages.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<ProfileFile, Error> {
    let error = |e: serde_json::Error| {
        let (pos, msg) = json_error(bytes, &e);
        if e.is_data() {
            invalid(path, pos, with_field(bytes, msg))
        } else {
            invalid(path, pos, format!("not JSON: {msg}"))
        }
    };
    let Object(head): Object<VersionOnly> = serde_json::from_slice(bytes).map_err(error)?;
    match head.lockgraph_profile.as_ref().map(|v| v.as_u64()) {
        None => {
            return Err(invalid(
                path,
                None,
                "no `lockgraph_profile` field: this is not a lockgraph profile",
            ))
        }
        Some(Some(PROFILE_VERSION)) => {}
        Some(Some(v)) => {
            return Err(invalid(
                path,
                None,
                format!(
                "unsupported profile version {v} (this lockgraph reads version {PROFILE_VERSION})"
            ),
            ))
        }
        Some(None) => {
            return Err(invalid(
                path,
                None,
                "`lockgraph_profile` must be a version number",
            ))
        }
    }
    let Object(file): Object<FileDe> = serde_json::from_slice(bytes).map_err(error)?;
    let pipeline = match &file.pipeline {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => Some(super::pipeline::sums(v).map_err(|msg| invalid(path, None, msg))?),
    };
    Ok(ProfileFile {
        path: path.to_path_buf(),
        pid: file.pid,
        exe: file.exe,
        classes: file.classes.0,
        pipeline,
    })
}

/// A valid profile of one class, whose values stand in for a bad file's
/// while [`blame`](crate::blame::blame) looks for the field at fault (its
/// fields in the order `ClassDe` declares them).
const PROFILE_TEMPLATE: &str = r#"{"lockgraph_profile":1,"pid":7,"exe":"/bin/t","classes":[{"class":"name:q","name":"q","kind":"Mutex","site":null,"acquisitions":100,"contended":40,"wait_ns":5000,"max_wait_ns":900,"reads":0,"hold_samples":10,"hold_ns":1000,"max_hold_ns":300,"waiting_threads":3,"blocking_calls":0,"blocking_ns":0,"blocking_what":null}]}"#;

/// `msg`, an entry's error (`classes[2]: invalid type: ...`), with the
/// entry's field at fault named (`classes[2].reads: invalid type: ...`):
/// serde says what is wrong, not in which of the sixteen fields.
fn with_field(bytes: &[u8], msg: String) -> String {
    let Some(rest) = msg.strip_prefix("classes[") else {
        return msg;
    };
    let Some((_, what)) = rest.split_once("]: ") else {
        return msg;
    };
    let parses = |v: &serde_json::Value| Object::<FileDe>::deserialize(v).is_ok();
    match crate::blame::blame(bytes, PROFILE_TEMPLATE.as_bytes(), &parses) {
        Some(crate::blame::Blame::Wrong(field)) if field.starts_with("classes[") => {
            format!("{field}: {what}")
        }
        _ => msg,
    }
}

//! A profile file's `pipeline` object (the backpressure profile's sums):
//! read field by field, so that an error names the field at fault as a
//! JSON path (`pipeline.queues[1].send.blocked_ns`), and the files' sums
//! merged.

use lockgraph_core::profile::pipeline::{PipelineSums, QueueSums, SideSums, StageSums};
use serde_json::{Map, Value};

use super::types::{invalid, ProfileFile};
use crate::error::Error;

/// `pipeline`'s value in a file, as its sums; `Err` names the field.
pub(super) fn sums(v: &Value) -> Result<PipelineSums, String> {
    let o = object(v, "pipeline")?;
    let queues = array(o, "pipeline", "queues")?
        .iter()
        .enumerate()
        .map(|(i, q)| queue(q, &format!("pipeline.queues[{i}]")))
        .collect::<Result<_, _>>()?;
    let stages = array(o, "pipeline", "stages")?
        .iter()
        .enumerate()
        .map(|(i, s)| stage(s, &format!("pipeline.stages[{i}]")))
        .collect::<Result<_, _>>()?;
    Ok(PipelineSums { queues, stages })
}

fn queue(v: &Value, at: &str) -> Result<QueueSums, String> {
    let o = object(v, at)?;
    let bound = match field(o, at, "bound")? {
        Value::Null => None,
        b => Some(
            b.as_u64()
                .ok_or_else(|| format!("{at}.bound: expected an unsigned integer or null"))?,
        ),
    };
    Ok(QueueSums {
        name: string(o, at, "name")?,
        bound,
        sends: number(o, at, "sends")?,
        fill_sum: number(o, at, "fill_sum")?,
        send: side(field(o, at, "send")?, &format!("{at}.send"))?,
        recv: side(field(o, at, "recv")?, &format!("{at}.recv"))?,
    })
}

fn side(v: &Value, at: &str) -> Result<SideSums, String> {
    let o = object(v, at)?;
    let stages = array(o, at, "stages")?
        .iter()
        .enumerate()
        .map(|(i, s)| {
            s.as_str()
                .map(str::to_string)
                .ok_or_else(|| format!("{at}.stages[{i}]: expected a string"))
        })
        .collect::<Result<_, _>>()?;
    Ok(SideSums {
        blocked_ns: number(o, at, "blocked_ns")?,
        life_ns: number(o, at, "life_ns")?,
        stages,
    })
}

fn stage(v: &Value, at: &str) -> Result<StageSums, String> {
    let o = object(v, at)?;
    Ok(StageSums {
        name: string(o, at, "name")?,
        workers: number(o, at, "workers")?,
        life_ns: number(o, at, "life_ns")?,
        full_ns: number(o, at, "full_ns")?,
        empty_ns: number(o, at, "empty_ns")?,
    })
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{at}: expected a JSON object"))
}

fn field<'a>(o: &'a Map<String, Value>, at: &str, name: &str) -> Result<&'a Value, String> {
    o.get(name)
        .ok_or_else(|| format!("{at}: missing field `{name}`"))
}

fn array<'a>(o: &'a Map<String, Value>, at: &str, name: &str) -> Result<&'a Vec<Value>, String> {
    field(o, at, name)?
        .as_array()
        .ok_or_else(|| format!("{at}.{name}: expected an array"))
}

fn number(o: &Map<String, Value>, at: &str, name: &str) -> Result<u64, String> {
    field(o, at, name)?
        .as_u64()
        .ok_or_else(|| format!("{at}.{name}: expected an unsigned integer"))
}

fn string(o: &Map<String, Value>, at: &str, name: &str) -> Result<String, String> {
    field(o, at, name)?
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{at}.{name}: expected a string"))
}

/// The files' backpressure sums added up, in file order (`None`: no file
/// has any): every file is added to an empty sum, the first one too, so
/// that queues of one name are one whichever file holds them (found by a
/// review: a first file's same-named queues stayed apart, and the result
/// depended on the order). A sum that overflows is an error naming the
/// file and field.
pub fn merge(files: &[ProfileFile]) -> Result<Option<PipelineSums>, Error> {
    let mut merged: Option<PipelineSums> = None;
    for f in files {
        let Some(p) = &f.pipeline else { continue };
        merged
            .get_or_insert_with(PipelineSums::default)
            .merge(p)
            .map_err(|field| {
                invalid(
                    &f.path,
                    None,
                    format!("`pipeline.{field}` overflows when added to the other files'"),
                )
            })?;
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<PipelineSums, String> {
        sums(&serde_json::from_str(text).unwrap())
    }

    const GOOD: &str = r#"{"queues":[{"name":"raw","bound":4,"sends":10,"fill_sum":30,"send":{"blocked_ns":5,"life_ns":10,"stages":["loader"]},"recv":{"blocked_ns":0,"life_ns":10,"stages":["gpu"]}}],"stages":[{"name":"loader","workers":1,"life_ns":10,"full_ns":5,"empty_ns":0}]}"#;

    #[test]
    fn a_good_pipeline_object_is_read_whole() {
        let p = parsed(GOOD).unwrap();
        assert_eq!(p.queues[0].bound, Some(4));
        assert_eq!(p.queues[0].send.stages, ["loader"]);
        assert_eq!(p.stages[0].full_ns, 5);
        let unbounded = GOOD.replace("\"bound\":4", "\"bound\":null");
        assert_eq!(parsed(&unbounded).unwrap().queues[0].bound, None);
    }

    /// Queues of one name add up alike whichever file holds them, the first
    /// one included (found by a review: the first file's stayed apart, so
    /// the rows depended on the order of the files).
    #[test]
    fn queues_of_one_name_merge_alike_in_either_order() {
        let file = |sends: [u64; 2]| {
            let mut p = PipelineSums::default();
            for n in sends {
                p.queues.push(QueueSums {
                    name: "queue at src/w.rs:3:9".to_string(),
                    sends: n,
                    ..QueueSums::default()
                });
            }
            ProfileFile {
                path: "p.json".into(),
                pid: 1,
                exe: String::new(),
                classes: Vec::new(),
                pipeline: Some(p),
            }
        };
        let (a, b) = (file([1, 2]), file([10, 20]));
        let sends = |files: &[ProfileFile]| -> Vec<u64> {
            let m = merge(files).unwrap().unwrap();
            m.queues.iter().map(|q| q.sends).collect()
        };
        assert_eq!(sends(&[a.clone(), b.clone()]), [33]);
        assert_eq!(sends(&[b, a]), [33]);
    }

    #[test]
    fn each_bad_field_is_named_by_its_path() {
        for (from, to, said) in [
            (
                "\"sends\":10",
                "\"sends\":-1",
                "pipeline.queues[0].sends: expected an unsigned integer",
            ),
            (
                "\"blocked_ns\":5",
                "\"blocked_ns\":\"5\"",
                "pipeline.queues[0].send.blocked_ns: expected an unsigned integer",
            ),
            (
                "[\"gpu\"]",
                "[7]",
                "pipeline.queues[0].recv.stages[0]: expected a string",
            ),
            (
                "\"bound\":4",
                "\"bound\":true",
                "pipeline.queues[0].bound: expected an unsigned integer or null",
            ),
            (
                "\"workers\":1,",
                "",
                "pipeline.stages[0]: missing field `workers`",
            ),
            (
                "\"stages\":[{",
                "\"stages\":[7,{",
                "pipeline.stages[0]: expected a JSON object",
            ),
        ] {
            let text = GOOD.replacen(from, to, 1);
            assert_ne!(text, GOOD, "{from}");
            assert_eq!(parsed(&text).unwrap_err(), said, "{text}");
        }
        assert_eq!(
            sums(&Value::from(3)).unwrap_err(),
            "pipeline: expected a JSON object"
        );
    }
}

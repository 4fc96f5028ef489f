//! The backpressure profile's report: what it says, how it prints, and the
//! bottleneck rule.

use std::fmt;

use crate::table::{cut, padded, width};

/// A queue's or stage's name in the tables is cut past this many
/// characters (the advice names it whole).
const NAME: usize = 60;

/// One queue in the [`PipelineReport`].
#[derive(Clone, Debug)]
pub struct QueueProfile {
    /// Its name (or creation site).
    pub name: String,
    /// Its bound (`None`: unbounded).
    pub bound: Option<usize>,
    /// Mean number of items in it, seen by each send.
    pub mean_fill: f64,
    /// Items sent.
    pub sends: u64,
    /// The stages that sent into it.
    pub producers: Vec<String>,
    /// The stages that received from it.
    pub consumers: Vec<String>,
    /// The share of the producers' time spent blocked on it full (0 to 1).
    pub full_share: f64,
    /// The share of the consumers' time spent blocked on it empty (0 to 1).
    pub empty_share: f64,
}

/// One stage in the [`PipelineReport`]: where its workers' time went.
///
/// A stage is the threads of one name less a trailing `-<number>`, or, for
/// `lockgraph::tokio::mpsc`, the tasks of one name (`spawn_named`,
/// `instrument_named`) less that number, else of one spawn site
/// (`spawned at <site>`), else, for a task of `tokio::spawn`, of the site of
/// its first operation on a queue (`task at <site>`).
#[derive(Clone, Debug)]
pub struct StageProfile {
    /// The stage (thread or task name less a trailing number, or a site).
    pub name: String,
    /// Its threads (or tasks): the `workers` column.
    pub threads: usize,
    /// Share of their time blocked sending into full queues.
    pub blocked_on_full: f64,
    /// Share of their time blocked receiving from empty queues.
    pub blocked_on_empty: f64,
}

/// The backpressure profile: queues, stages, advice. Prints as a table.
#[derive(Clone, Debug, Default)]
pub struct PipelineReport {
    /// The queues, in creation order.
    pub queues: Vec<QueueProfile>,
    /// The stages, by name.
    pub stages: Vec<StageProfile>,
    /// What to do, bottleneck first.
    pub advice: Vec<String>,
}

/// A share that counts as "most of the time" for the advice.
const STARVED: f64 = 0.3;

/// The bottleneck rule: a stage whose input queue is often full (its
/// producers blocked on it) and whose output queue is often empty (its
/// consumers starved) is the bottleneck; a last stage whose input is often
/// full, or a first stage whose output is often empty, is one too.
pub(super) fn advise(queues: &[QueueProfile]) -> Vec<String> {
    let pct = |x: f64| (x * 100.0).round() as u32;
    let names = |v: &[String]| {
        v.iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = Vec::new();
    let mut stages: Vec<&String> = queues
        .iter()
        .flat_map(|q| q.producers.iter().chain(&q.consumers))
        .collect();
    stages.sort();
    stages.dedup();
    for s in stages {
        let inputs: Vec<&QueueProfile> =
            queues.iter().filter(|q| q.consumers.contains(s)).collect();
        let outputs: Vec<&QueueProfile> =
            queues.iter().filter(|q| q.producers.contains(s)).collect();
        let full_in = inputs
            .iter()
            .filter(|q| q.full_share >= STARVED)
            .max_by(|a, b| a.full_share.total_cmp(&b.full_share));
        let empty_out = outputs
            .iter()
            .filter(|q| q.empty_share >= STARVED)
            .max_by(|a, b| a.empty_share.total_cmp(&b.empty_share));
        let line = match (full_in, empty_out, inputs.is_empty(), outputs.is_empty()) {
            (Some(i), Some(o), _, _) => format!(
                "`{s}` is the bottleneck: {} waited on an empty `{}` queue {}% of the time, {} on a full `{}` queue {}%; give `{s}` more workers or make it faster",
                names(&o.consumers), o.name, pct(o.empty_share), names(&i.producers), i.name, pct(i.full_share)
            ),
            (Some(i), None, _, true) => format!(
                "`{s}` (the last stage) is the bottleneck: {} waited on a full `{}` queue {}% of the time",
                names(&i.producers), i.name, pct(i.full_share)
            ),
            (None, Some(o), true, _) => format!(
                "`{s}` (the first stage) is the bottleneck: {} waited on an empty `{}` queue {}% of the time",
                names(&o.consumers), o.name, pct(o.empty_share)
            ),
            _ => continue,
        };
        out.push(line);
    }
    out
}

impl fmt::Display for PipelineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |x: f64| format!("{:.0}%", x * 100.0);
        writeln!(f, "lockgraph pipeline profile")?;
        if self.queues.is_empty() {
            return writeln!(f, "  no queue was used while the profile was on");
        }
        // Names as wide as the widest (a task's stage can be a site), cut
        // past `NAME` characters and padded by hand: a format width panics
        // past 65,535, and a name can be longer.
        let queue_names: Vec<String> = (self.queues.iter())
            .map(|q| cut(&q.name, NAME).into_owned())
            .collect();
        let stage_names: Vec<String> = (self.stages.iter())
            .map(|s| cut(&s.name, NAME).into_owned())
            .collect();
        let qw = width(queue_names.iter().map(String::as_str)).max(14);
        let sw = width(stage_names.iter().map(String::as_str)).max(14);
        writeln!(
            f,
            "  {} {:>7} {:>9} {:>9} {:>9}  producers -> consumers",
            padded("queue", qw),
            "bound",
            "mean fill",
            "full",
            "empty"
        )?;
        for (q, name) in self.queues.iter().zip(&queue_names) {
            writeln!(
                f,
                "  {} {:>7} {:>9.1} {:>9} {:>9}  {} -> {}",
                padded(name, qw),
                q.bound.map_or("-".to_string(), |b| b.to_string()),
                q.mean_fill,
                pct(q.full_share),
                pct(q.empty_share),
                q.producers.join(", "),
                q.consumers.join(", ")
            )?;
        }
        writeln!(
            f,
            "  (full: share of the producers' time blocked on it full; empty: of the consumers' time on it empty)"
        )?;
        writeln!(
            f,
            "  {} {:>7} {:>14} {:>15} {:>9}",
            padded("stage", sw),
            "workers",
            "blocked: full",
            "blocked: empty",
            "other"
        )?;
        for (s, name) in self.stages.iter().zip(&stage_names) {
            writeln!(
                f,
                "  {} {:>7} {:>14} {:>15} {:>9}",
                padded(name, sw),
                s.threads,
                pct(s.blocked_on_full),
                pct(s.blocked_on_empty),
                pct((1.0 - s.blocked_on_full - s.blocked_on_empty).max(0.0))
            )?;
        }
        for a in &self.advice {
            writeln!(f, "  advice: {a}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name wider than a format width allows (65,535) is cut in the
    /// tables, not a panic (the CLI's tables had the same bug; found by an
    /// outside test).
    #[test]
    fn a_name_over_65535_characters_is_cut_in_the_tables() {
        let long = "q".repeat(70_000);
        let report = PipelineReport {
            queues: vec![QueueProfile {
                name: long.clone(),
                bound: Some(4),
                mean_fill: 1.0,
                sends: 10,
                producers: vec!["loader".into()],
                consumers: vec!["gpu".into()],
                full_share: 0.5,
                empty_share: 0.1,
            }],
            stages: vec![StageProfile {
                name: long,
                threads: 1,
                blocked_on_full: 0.5,
                blocked_on_empty: 0.0,
            }],
            advice: Vec::new(),
        };
        let text = report.to_string();
        assert!(
            text.contains(&format!("{}…", "q".repeat(NAME - 1))),
            "{}",
            &text[..300]
        );
        assert!(
            text.lines().all(|l| l.chars().count() < 200),
            "{}",
            &text[..300]
        );
    }
}

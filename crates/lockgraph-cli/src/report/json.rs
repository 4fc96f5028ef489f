//! The report as `--format json` prints it (`docs/ci.md`): the findings
//! of each rule in their own array, each with the rule's own fields.

use serde::ser::{SerializeStruct, Serializer};
use serde::Serialize;

use super::{Detail, Finding, Report, Rule, REPORT_VERSION};

/// A finding in the JSON's per-rule shape.
struct JsonFinding<'a>(&'a Finding);

impl Serialize for JsonFinding<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        match &f.detail {
            Detail::Cycle { exact, run_time } => {
                let mut st = s.serialize_struct("Cycle", 9)?;
                st.serialize_field("rule", f.rule.id())?;
                st.serialize_field("key", &f.key)?;
                st.serialize_field("fingerprint", &f.fingerprint)?;
                st.serialize_field("message", &f.message)?;
                st.serialize_field("exact", exact)?;
                // Only for a cycle found at run time: the others' JSON is
                // as it was.
                match run_time {
                    Some(r) => st.serialize_field("found_at_run_time", r)?,
                    None => st.skip_field("found_at_run_time")?,
                }
                st.serialize_field("notes", &f.notes)?;
                st.serialize_field("locks", &f.locks)?;
                st.serialize_field("edges", &f.edges)?;
                st.end()
            }
            Detail::OrderViolation(o) => {
                let mut st = s.serialize_struct("Violation", 13)?;
                st.serialize_field("rule", f.rule.id())?;
                st.serialize_field("key", &f.key)?;
                st.serialize_field("fingerprint", &f.fingerprint)?;
                st.serialize_field("message", &f.message)?;
                st.serialize_field("notes", &f.notes)?;
                st.serialize_field("order_file", &o.order_file)?;
                st.serialize_field("chain", &o.chain)?;
                st.serialize_field("order", &o.order)?;
                st.serialize_field("from", &f.locks.first())?;
                st.serialize_field("to", &f.locks.get(1))?;
                st.serialize_field("from_entry", &o.from_entry)?;
                st.serialize_field("to_entry", &o.to_entry)?;
                st.serialize_field("edge", &f.edges.first())?;
                st.end()
            }
        }
    }
}

struct JsonFindings<'a>(&'a Report, Rule);

impl Serialize for JsonFindings<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.of_rule(self.1).map(JsonFinding))
    }
}

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Report", 6)?;
        st.serialize_field("lockgraph_check", &REPORT_VERSION)?;
        st.serialize_field("summary", &self.summary)?;
        st.serialize_field("cycles", &JsonFindings(self, Rule::Cycle))?;
        st.serialize_field("violations", &JsonFindings(self, Rule::OrderViolation))?;
        st.serialize_field("baseline", &self.baseline)?;
        st.serialize_field("warnings", &self.warnings)?;
        st.end()
    }
}

//! The audit trail of teacher edits: who, when, what it was, what it became.

use serde::{Deserialize, Serialize};

use crate::{Record, SessionMeta};

/// The stored before/after values' type, for callers without serde_json.
pub use serde_json::Value as JsonValue;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The school number of whoever made the change.
    pub actor: String,
    /// accept_student, fail_student, add_student, delete_record,
    /// finish_attendance, delete_attendance.
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub student_number: Option<String>,
    pub old_value: Option<serde_json::Value>,
    pub new_value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub at_ms: i64,
}

/// What an entry says was there before and after: a record's or a
/// session's values (`None` where there was none, e.g. before AddStudent).
pub type BeforeAfter<T> = (Option<T>, Option<T>);

impl AuditEntry {
    /// The record before and after, for an entry about a student's record;
    /// `None` if a stored value is not a record.
    pub fn record_change(&self) -> Option<BeforeAfter<Record>> {
        let read = |value: &Option<serde_json::Value>| match value {
            None | Some(serde_json::Value::Null) => Some(None),
            Some(json) => serde_json::from_value::<Record>(json.clone()).ok().map(|record| Some(record.with_code())),
        };
        Some((read(&self.old_value)?, read(&self.new_value)?))
    }

    /// The session before and after, for an entry about the session itself;
    /// `None` if a stored value is not a session.
    pub fn session_change(&self) -> Option<BeforeAfter<SessionMeta>> {
        let read = |value: &Option<serde_json::Value>| match value {
            None | Some(serde_json::Value::Null) => Some(None),
            Some(json) => serde_json::from_value::<SessionMeta>(json.clone()).ok().map(Some),
        };
        Some((read(&self.old_value)?, read(&self.new_value)?))
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an audit entry always serialises")
    }

    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// A session's whole trail from its two homes, oldest first: the entries
/// still in the live copy (each with the session version it was made at)
/// and those in the archive (with that version, or `None` for an edit of
/// the archive itself). While the sweep copies a session, an entry can be
/// in both: it counts once. Read the live copy first: an entry the sweep
/// moves in between is then found in the archive, never lost.
pub fn merge_trail(live: Vec<(i64, AuditEntry)>, archived: Vec<(Option<i64>, AuditEntry)>) -> Vec<AuditEntry> {
    let copied: std::collections::HashSet<i64> = archived.iter().filter_map(|(seq, _)| *seq).collect();
    let mut trail: Vec<(i64, i64, AuditEntry)> = archived
        .into_iter()
        .map(|(seq, entry)| (entry.at_ms, seq.unwrap_or(i64::MAX), entry))
        .chain(live.into_iter().filter(|(seq, _)| !copied.contains(seq)).map(|(seq, entry)| (entry.at_ms, seq, entry)))
        .collect();
    // By time; edits in the same millisecond by the version they made.
    trail.sort_by_key(|(at, seq, _)| (*at, *seq));
    trail.into_iter().map(|(_, _, entry)| entry).collect()
}

/// The JSON value of anything serialisable, for the old/new columns.
pub fn snapshot_of<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("domain values always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(action: &str, at_ms: i64) -> AuditEntry {
        AuditEntry {
            actor: "t1".into(),
            action: action.into(),
            student_number: None,
            old_value: None,
            new_value: None,
            reason: None,
            at_ms,
        }
    }

    fn actions(trail: &[AuditEntry]) -> Vec<&str> {
        trail.iter().map(|e| e.action.as_str()).collect()
    }

    #[test]
    fn an_entry_in_both_homes_counts_once() {
        let live = vec![(3, entry("accept_student", 10)), (4, entry("fail_student", 20))];
        let archived = vec![(Some(3), entry("accept_student", 10)), (Some(4), entry("fail_student", 20))];
        assert_eq!(actions(&merge_trail(live, archived)), ["accept_student", "fail_student"]);
    }

    #[test]
    fn live_and_archive_edits_interleave_by_time() {
        let live = vec![(5, entry("add_student", 30)), (2, entry("accept_student", 10))];
        let archived = vec![(None, entry("delete_record", 40)), (Some(2), entry("accept_student", 10))];
        let trail = merge_trail(live, archived);
        assert_eq!(actions(&trail), ["accept_student", "add_student", "delete_record"]);
    }

    #[test]
    fn edits_in_the_same_millisecond_keep_their_version_order() {
        let live = vec![(8, entry("fail_student", 10)), (7, entry("accept_student", 10))];
        assert_eq!(actions(&merge_trail(live, vec![])), ["accept_student", "fail_student"]);
    }

    #[test]
    fn no_entries_make_an_empty_trail() {
        assert!(merge_trail(vec![], vec![]).is_empty());
    }
}

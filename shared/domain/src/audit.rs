//! The audit trail of teacher edits: who, when, what it was, what it became.

use serde::{Deserialize, Serialize};

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

impl AuditEntry {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("an audit entry always serialises")
    }

    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }
}

/// The JSON value of anything serialisable, for the old/new columns.
pub fn snapshot_of<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).expect("domain values always serialise")
}

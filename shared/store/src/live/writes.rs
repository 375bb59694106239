//! Compare-and-set of one record or of the session itself: the scripts
//! that teacher edits and face results write through, and their reply.

use std::sync::LazyLock;

use attn_domain::{AuditEntry, Record, SessionMeta};
use fred::types::{Value, scripts::Script};
use uuid::Uuid;

use super::{LiveStore, flag, reply, u64_at};
use crate::{StoreError, StoreResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Written {
        version: u64,
    },
    NotFound,
    NotOwner,
    /// Someone else changed it first; read again and retry.
    Changed,
}

fn write_outcome(value: Value) -> StoreResult<WriteOutcome> {
    let (status, items) = reply(value)?;
    Ok(match status.as_str() {
        "written" => WriteOutcome::Written { version: u64_at(&items, 0)? },
        "not_found" => WriteOutcome::NotFound,
        "not_owner" => WriteOutcome::NotOwner,
        "changed" => WriteOutcome::Changed,
        other => return Err(StoreError::corrupt("a script reply", format!("status {other:?}"))),
    })
}

/// Compare-and-set of one record, for teacher edits and face results.
///
/// KEYS: meta, records, audit. ARGV: student, expected JSON ('' = no record),
/// new JSON, events channel, audit JSON ('' = none), owner ('' = any).
/// Returns {'not_found'} | {'not_owner'} | {'changed'} | {'written', version}.
pub(super) static WRITE_RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local teacher = redis.call('HGET', KEYS[1], 'teacher')
if not teacher then return {'not_found'} end
if ARGV[6] ~= '' and teacher ~= ARGV[6] then return {'not_owner'} end
local current = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if current ~= ARGV[2] then return {'changed'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
if ARGV[5] ~= '' then redis.call('RPUSH', KEYS[3], version .. '|' .. ARGV[5]) end
redis.call('PUBLISH', ARGV[4], version .. '|r|' .. ARGV[3])
return {'written', version}
"#,
    )
});

/// Compare-and-set of the session itself (finish, delete), by version.
///
/// KEYS: meta, audit. ARGV: expected version, session JSON, end (ms),
/// deleted ('0'/'1'), events channel, audit JSON ('' = none).
/// Returns {'not_found'} | {'changed'} | {'written', version}.
pub(super) static WRITE_META: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local current = redis.call('HGET', KEYS[1], 'version')
if not current then return {'not_found'} end
if current ~= ARGV[1] then return {'changed'} end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'end_ms', ARGV[3], 'deleted', ARGV[4])
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
if ARGV[6] ~= '' then redis.call('RPUSH', KEYS[2], version .. '|' .. ARGV[6]) end
redis.call('PUBLISH', ARGV[5], version .. '|a|' .. ARGV[2])
return {'written', version}
"#,
    )
});

impl LiveStore {
    /// Replaces one record if it is still `expected` (its raw JSON, or None
    /// for "no record yet"), optionally checking the session's owner and
    /// appending an audit entry.
    pub async fn write_record(
        &self,
        id: Uuid,
        expected: Option<&str>,
        new: &Record,
        audit: Option<&AuditEntry>,
        owner: Option<&str>,
    ) -> StoreResult<WriteOutcome> {
        if expected.is_none() {
            // A new record: listed for the student before it exists.
            self.add_student_session(&new.student_number, id).await?;
        }
        write_outcome(
            self.run(
                &WRITE_RECORD,
                vec![self.keys.meta(id), self.keys.records(id), self.keys.audit(id)],
                vec![
                    new.student_number.clone(),
                    expected.unwrap_or("").to_owned(),
                    new.to_json(),
                    self.keys.events(id),
                    audit.map(AuditEntry::to_json).unwrap_or_default(),
                    owner.unwrap_or("").to_owned(),
                ],
            )
            .await?,
        )
    }

    /// Replaces the session if its version is still `expected_version`.
    pub async fn write_meta(
        &self,
        expected_version: u64,
        meta: &SessionMeta,
        audit: Option<&AuditEntry>,
    ) -> StoreResult<WriteOutcome> {
        let id = meta.attendance_id;
        write_outcome(
            self.run(
                &WRITE_META,
                vec![self.keys.meta(id), self.keys.audit(id)],
                vec![
                    expected_version.to_string(),
                    meta.to_json(),
                    meta.end_ms.to_string(),
                    flag(meta.is_deleted).into(),
                    self.keys.events(id),
                    audit.map(AuditEntry::to_json).unwrap_or_default(),
                ],
            )
            .await?,
        )
    }
}

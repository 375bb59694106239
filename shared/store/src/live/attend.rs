//! Check-in: the one script that counts the attempt, replays an earlier
//! answer or writes the record, its wrapper and its reply.

use std::sync::LazyLock;

use attn_domain::Record;
use fred::{
    interfaces::{KeysInterface, SetsInterface},
    types::scripts::Script,
};
use uuid::Uuid;

use super::{LiveStore, parse_record, reply, string_at, u64_at};
use crate::{StoreError, StoreResult, scripts::GCRA};

/// How long a student's set of live sessions outlives its last write. Long
/// past any session's end plus the sweeper's grace; the sweeper removes
/// each entry when it archives the session.
const STUDENT_SESSIONS_TTL_SECS: i64 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttendOutcome {
    /// Over the student's limit of check-in attempts for this session; try
    /// again after this long.
    Limited(std::time::Duration),
    Written(Record),
    /// The same request was answered before; this is that answer.
    Replayed(Record),
    NotFound,
    Deleted,
    Ended,
    /// The student has a record that may not be replaced.
    Conflict(Record),
    /// A course session for enrolled students only, and the student is not
    /// enrolled.
    NotEnrolled,
}

/// The key in the `requests` hash for one student's request id: scoped by
/// student, so one student can never replay another's answer.
pub fn request_key(student: &str, request_id: &str) -> String {
    format!("{student}:{request_id}")
}

/// Check-in. Counts the attempt against the student's limit for this
/// session, replays an earlier answer to the same request, refuses unknown,
/// deleted and ended sessions and records that may not be retried, and
/// students not enrolled in a course session for enrolled students only
/// (`enrolled_only` in meta: one HEXISTS in the same script; a session
/// started before the roster hash has its students in the legacy set), else writes
/// the record.
///
/// KEYS: meta, records, requests, the student's limit, roster, legacy
/// enrolled set. ARGV:
/// student, request key ('' for none), record JSON, now (ms), events
/// channel, attempts per minute ('0': no limit).
/// Returns {'limited', ms} | {'replayed', json} | {'not_found'} | {'deleted'}
///       | {'ended'} | {'conflict', json} | {'not_enrolled'}
///       | {'written', json, version}.
pub(super) static ATTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        "{GCRA}{}",
        r#"
local per_minute = tonumber(ARGV[6])
if per_minute > 0 then
  local wait = limited(KEYS[4], per_minute)
  if wait > 0 then return {'limited', wait} end
end
if ARGV[2] ~= '' then
  local prior = redis.call('HGET', KEYS[3], ARGV[2])
  if prior then return {'replayed', prior} end
end
local meta = redis.call('HMGET', KEYS[1], 'end_ms', 'deleted', 'enrolled_only')
if not meta[1] then return {'not_found'} end
if meta[2] == '1' then return {'deleted'} end
if tonumber(ARGV[4]) >= tonumber(meta[1]) then return {'ended'} end
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing and not cjson.decode(existing)['may_retry'] then
  return {'conflict', existing}
end
if meta[3] == '1' and redis.call('HEXISTS', KEYS[5], ARGV[1]) == 0
   and redis.call('SISMEMBER', KEYS[6], ARGV[1]) == 0 then
  return {'not_enrolled'}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[3]) end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', ARGV[5], version .. '|r|' .. ARGV[3])
return {'written', ARGV[3], version}
"#
    ))
});

impl LiveStore {
    /// Check-in: one atomic script (see [`ATTEND`]), which also counts
    /// the attempt against `attempts_per_minute` (0: no limit) for this
    /// student and session, on every replica alike. Sent at the same time:
    /// the session joins the student's set of live sessions, so their history
    /// finds the record without looking at every open session. Both must
    /// succeed; a retry after a failure repairs the set.
    pub async fn attend(
        &self,
        id: Uuid,
        record: &Record,
        request_key: Option<&str>,
        now_ms: i64,
        attempts_per_minute: u32,
    ) -> StoreResult<AttendOutcome> {
        let check_in = self.run(
            &ATTEND,
            vec![
                self.keys.meta(id),
                self.keys.records(id),
                self.keys.requests(id),
                self.keys.attend_limit(id, &record.student_number),
                self.keys.roster(id),
                self.keys.legacy_enrolled(id),
            ],
            vec![
                record.student_number.clone(),
                request_key.unwrap_or("").to_owned(),
                record.to_json(),
                now_ms.to_string(),
                self.keys.events(id),
                attempts_per_minute.to_string(),
            ],
        );
        let ((), value) = futures::try_join!(self.add_student_session(&record.student_number, id), check_in)?;
        let (status, items) = reply(value)?;
        let what = format!("record {} of {id}", record.student_number);
        Ok(match status.as_str() {
            "limited" => AttendOutcome::Limited(std::time::Duration::from_millis(u64_at(&items, 0)?)),
            "written" => AttendOutcome::Written(parse_record(&what, &string_at(&items, 0)?)?),
            "replayed" => AttendOutcome::Replayed(parse_record(&what, &string_at(&items, 0)?)?),
            "conflict" => AttendOutcome::Conflict(parse_record(&what, &string_at(&items, 0)?)?),
            "not_found" => AttendOutcome::NotFound,
            "deleted" => AttendOutcome::Deleted,
            "ended" => AttendOutcome::Ended,
            "not_enrolled" => AttendOutcome::NotEnrolled,
            other => return Err(StoreError::corrupt("a script reply", format!("status {other:?}"))),
        })
    }

    /// Adds a session to the student's set of live sessions and pushes the
    /// set's expiry out.
    pub(crate) async fn add_student_session(&self, student: &str, id: Uuid) -> StoreResult<()> {
        let key = self.keys.student_sessions(student);
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.sadd(&key, id.to_string()).await?;
        let _: () = pipeline.expire(&key, STUDENT_SESSIONS_TTL_SECS, None).await?;
        let _: (i64, bool) = pipeline.all().await?;
        Ok(())
    }
}

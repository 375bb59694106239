//! Reading one live session: the session itself, a consistent snapshot of
//! it (its own script), one record, and what a check-in reads first.

use std::sync::LazyLock;

use attn_domain::{Record, SessionMeta, check_in_code::CodeSecret};
use fred::{
    interfaces::{HashesInterface, SetsInterface},
    types::{Value, scripts::Script},
};
use uuid::Uuid;

use super::{LiveSession, LiveStore, parse_meta, parse_record, parse_version};
use crate::{StoreError, StoreResult};

/// A consistent copy of a whole session.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub meta: SessionMeta,
    pub version: u64,
    pub records: Vec<Record>,
    /// Entries that are not valid record JSON: (student field, why).
    pub malformed: Vec<(String, String)>,
    /// A course session's enrolled students (number, full name), by number;
    /// empty for a session without a course.
    pub enrolled: Vec<(String, String)>,
}

/// What a check-in needs to know before verifying, in one round trip.
#[derive(Debug, Clone)]
pub struct Precheck {
    pub meta: SessionMeta,
    /// The check-in code's secret, for a session that requires the code.
    pub code_secret: Option<CodeSecret>,
    pub record: Option<Record>,
    pub replay: Option<Record>,
    /// The student is in the session's enrolled set (always false for a
    /// session without a course).
    pub enrolled: bool,
}

/// A session's JSON and its check-in code's secret (hex), as HMGET reads them.
type MetaWithSecret = (Option<String>, Option<String>);

fn parse_secret(id: Uuid, hex: Option<String>) -> StoreResult<Option<CodeSecret>> {
    hex.map(|hex| {
        CodeSecret::from_hex(&hex)
            .ok_or_else(|| StoreError::corrupt(format!("check-in code of session {id}"), "not 32 bytes of hex"))
    })
    .transpose()
}

/// A consistent read of a session: its JSON, version and every record.
///
/// KEYS: meta, records, roster, legacy enrolled set. Returns nil | {json,
/// version, {student, json, ...}, {student, full name, ...}, {student, ...}}.
pub(super) static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local meta = redis.call('HMGET', KEYS[1], 'json', 'version')
if not meta[1] then return false end
return {meta[1], meta[2], redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]), redis.call('SMEMBERS', KEYS[4])}
"#,
    )
});

impl LiveStore {
    pub async fn session(&self, id: Uuid) -> StoreResult<Option<LiveSession>> {
        Ok(self.sessions(&[id]).await?.pop())
    }

    /// The session, every record and the version, read atomically.
    pub async fn snapshot(&self, id: Uuid) -> StoreResult<Option<Snapshot>> {
        let keys = vec![self.keys.meta(id), self.keys.records(id), self.keys.roster(id), self.keys.legacy_enrolled(id)];
        let value = self.run(&SNAPSHOT, keys, vec![]).await?;
        if value.is_null() {
            return Ok(None);
        }
        let mut items = value.into_array().into_iter();
        let json = items.next().and_then(|v| v.as_string()).unwrap_or_default();
        let version = items.next().and_then(|v| v.as_string());
        let fields = items.next().map(Value::into_array).unwrap_or_default();
        let enrolled_fields = items.next().map(Value::into_array).unwrap_or_default();
        let legacy_enrolled = items.next().map(Value::into_array).unwrap_or_default();
        let meta = parse_meta(id, &json)?;
        let version = parse_version(id, version)?;
        let mut records = Vec::with_capacity(fields.len() / 2);
        let mut malformed = Vec::new();
        let mut pairs = fields.into_iter();
        while let (Some(student), Some(value)) = (pairs.next(), pairs.next()) {
            let student = student.as_string().unwrap_or_default();
            let value = value.as_string().unwrap_or_default();
            match Record::from_json(&value) {
                Ok(record) => records.push(record),
                Err(err) => malformed.push((student, err.to_string())),
            }
        }
        records.sort_by(|a, b| a.student_number.cmp(&b.student_number));
        let mut enrolled = Vec::with_capacity(enrolled_fields.len() / 2);
        let mut pairs = enrolled_fields.into_iter();
        while let (Some(number), Some(name)) = (pairs.next(), pairs.next()) {
            enrolled.push((number.as_string().unwrap_or_default(), name.as_string().unwrap_or_default()));
        }
        // The legacy set has numbers only: their names are left empty (the
        // sweep fills them in from the directory when it archives them).
        enrolled
            .extend(legacy_enrolled.into_iter().map(|number| (number.as_string().unwrap_or_default(), String::new())));
        enrolled.sort();
        Ok(Some(Snapshot { meta, version, records, malformed, enrolled }))
    }

    /// The full name of a student enrolled in a live course session, or
    /// `None` (not enrolled, no course, or no such session).
    pub async fn enrolled_name(&self, id: Uuid, student: &str) -> StoreResult<Option<String>> {
        Ok(self.pool.hget(self.keys.roster(id), student).await?)
    }

    /// One student's record, parsed, with the raw JSON for compare-and-set.
    pub async fn record(&self, id: Uuid, student: &str) -> StoreResult<Option<(Record, String)>> {
        let json: Option<String> = self.pool.hget(self.keys.records(id), student).await?;
        json.map(|json| Ok((parse_record(&format!("record {student} of {id}"), &json)?, json))).transpose()
    }

    /// The session's version and one student's record, for a watcher
    /// catching up. The version is read first, so the record is at least as
    /// new as it: replaying later events can repeat a change, never miss one.
    /// `None`: no such live session.
    pub async fn record_with_version(&self, id: Uuid, student: &str) -> StoreResult<Option<(u64, Option<Record>)>> {
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hget(self.keys.meta(id), "version").await?;
        let _: () = pipeline.hget(self.keys.records(id), student).await?;
        let (version, record): (Option<String>, Option<String>) = pipeline.all().await?;
        let Some(version) = version else {
            return Ok(None);
        };
        let record = record.map(|json| parse_record(&format!("record {student} of {id}"), &json)).transpose()?;
        Ok(Some((parse_version(id, Some(version))?, record)))
    }

    /// The session, the student's record, any earlier answer to this
    /// request and whether the student is enrolled (a course session), in
    /// one round trip.
    pub async fn precheck(&self, id: Uuid, student: &str, request_key: Option<&str>) -> StoreResult<Option<Precheck>> {
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hmget(self.keys.meta(id), vec!["json", "code_secret"]).await?;
        let _: () = pipeline.hget(self.keys.records(id), student).await?;
        let _: () = pipeline.hget(self.keys.requests(id), request_key.unwrap_or("")).await?;
        let _: () = pipeline.hexists(self.keys.roster(id), student).await?;
        let _: () = pipeline.sismember(self.keys.legacy_enrolled(id), student).await?;
        let (meta, record, replay, enrolled, enrolled_before_rosters): (
            MetaWithSecret,
            Option<String>,
            Option<String>,
            bool,
            bool,
        ) = pipeline.all().await?;
        let enrolled = enrolled || enrolled_before_rosters;
        let (json, secret) = meta;
        let Some(json) = json else {
            return Ok(None);
        };
        let what = format!("record {student} of {id}");
        Ok(Some(Precheck {
            meta: parse_meta(id, &json)?,
            code_secret: parse_secret(id, secret)?,
            record: record.map(|json| parse_record(&what, &json)).transpose()?,
            replay: replay.map(|json| parse_record(&what, &json)).transpose()?,
            enrolled,
        }))
    }

    /// A session and its check-in code's secret (None when it asks for no
    /// code), for the teacher's projector. `None`: no such live session.
    pub async fn session_with_code_secret(&self, id: Uuid) -> StoreResult<Option<(SessionMeta, Option<CodeSecret>)>> {
        let (json, secret): (Option<String>, Option<String>) =
            self.pool.hmget(self.keys.meta(id), vec!["json", "code_secret"]).await?;
        let Some(json) = json else {
            return Ok(None);
        };
        Ok(Some((parse_meta(id, &json)?, parse_secret(id, secret)?)))
    }
}

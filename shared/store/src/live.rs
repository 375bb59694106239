//! Live attendance sessions in Redis.
//!
//! Layout (see [`Keys`]): per session a `meta` hash, a `records` hash
//! (student → record JSON), a `requests` hash for replayed check-ins and an
//! `audit` list; per teacher a claim and a set of sessions; per student a
//! set of sessions with a live record; and sharded indexes of open and
//! ending sessions. No student-facing read touches more than the caller's
//! own keys and the sessions it names, however many sessions are open.
//! Every change to a session goes through one of the scripts in
//! `scripts.rs`, which bump the session's `version` and publish the change
//! on its events channel.

use std::collections::HashMap;

use attn_domain::{AuditEntry, Record, SessionMeta, check_in_code::CodeSecret};
use fred::{
    clients::Pool,
    interfaces::{ClientLike, HashesInterface, KeysInterface, SetsInterface},
    types::Value,
};
use uuid::Uuid;

use crate::{
    Keys, StoreError, StoreResult,
    keys::{SHARDS, shard_of_session},
    redis::RedisSettings,
    scripts,
    shards::lowest_over_shards,
};

#[derive(Clone)]
pub struct LiveStore {
    pool: Pool,
    keys: Keys,
}

/// How long a new session's keys outlive its end if it is never claimed
/// (a crash between writing and claiming it).
const UNCLAIMED_SESSION_GRACE_MS: i64 = 7 * 24 * 3600 * 1000;

/// How long a student's set of live sessions outlives its last write. Long
/// past any session's end plus the sweeper's grace; the sweeper removes
/// each entry when it archives the session.
const STUDENT_SESSIONS_TTL_SECS: i64 = 7 * 24 * 3600;

/// How a listing change is applied to a session's index shard.
enum Listing<'a> {
    Open(&'a SessionMeta),
    Closed(&'a SessionMeta),
    Dropped(Uuid),
}

/// A session and the version its state had when read.
#[derive(Debug, Clone)]
pub struct LiveSession {
    pub meta: SessionMeta,
    pub version: u64,
    /// Records on the roster, soft-deleted ones included.
    pub record_count: u64,
    /// Created, but a crash may have stopped it before it was listed.
    pub unfinished: bool,
}

/// A consistent copy of a whole session.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub meta: SessionMeta,
    pub version: u64,
    pub records: Vec<Record>,
    /// Entries that are not valid record JSON: (student field, why).
    pub malformed: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// The teacher already has this session open.
    TeacherHasOpenSession(Uuid),
}

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
}

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

/// What a check-in needs to know before verifying, in one round trip.
#[derive(Debug, Clone)]
pub struct Precheck {
    pub meta: SessionMeta,
    /// The check-in code's secret, for a session that requires the code.
    pub code_secret: Option<CodeSecret>,
    pub record: Option<Record>,
    pub replay: Option<Record>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    Removed,
    /// Changed since it was read: archive it again next round.
    Changed,
    /// Already removed.
    Gone,
}

/// The key in the `requests` hash for one student's request id: scoped by
/// student, so one student can never replay another's answer.
pub fn request_key(student: &str, request_id: &str) -> String {
    format!("{student}:{request_id}")
}

fn parse_record(what: &str, json: &str) -> StoreResult<Record> {
    Record::from_json(json).map_err(|err| StoreError::corrupt(what, err))
}

fn parse_meta(id: Uuid, json: &str) -> StoreResult<SessionMeta> {
    SessionMeta::from_json(json).map_err(|err| StoreError::corrupt(format!("session {id}"), err))
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

fn parse_version(id: Uuid, value: Option<String>) -> StoreResult<u64> {
    value
        .unwrap_or_else(|| "0".into())
        .parse()
        .map_err(|err| StoreError::corrupt(format!("version of session {id}"), err))
}

/// Splits a script's `{status, ...}` reply.
fn reply(value: Value) -> StoreResult<(String, Vec<Value>)> {
    let mut items = value.into_array().into_iter();
    let status =
        items.next().and_then(|v| v.as_string()).ok_or_else(|| StoreError::corrupt("a script reply", "no status"))?;
    Ok((status, items.collect()))
}

fn string_at(items: &[Value], index: usize) -> StoreResult<String> {
    items
        .get(index)
        .and_then(Value::as_string)
        .ok_or_else(|| StoreError::corrupt("a script reply", format!("no string at {index}")))
}

fn u64_at(items: &[Value], index: usize) -> StoreResult<u64> {
    items
        .get(index)
        .and_then(Value::as_u64)
        .ok_or_else(|| StoreError::corrupt("a script reply", format!("no number at {index}")))
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

impl LiveStore {
    pub async fn connect(settings: &RedisSettings, keys: Keys) -> StoreResult<Self> {
        let pool = crate::redis::connect_pool(settings).await?;
        let store = Self { pool, keys };
        store.load_scripts().await?;
        Ok(store)
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Loads the scripts up front; `evalsha_with_reload` reloads them if
    /// Redis restarts and forgets them.
    pub async fn load_scripts(&self) -> StoreResult<()> {
        for script in scripts::all() {
            script.load(self.pool.next()).await?;
        }
        Ok(())
    }

    async fn run(
        &self,
        script: &fred::types::scripts::Script,
        keys: Vec<String>,
        args: Vec<String>,
    ) -> StoreResult<Value> {
        Ok(script.evalsha_with_reload(self.pool.next(), keys, args).await?)
    }

    // === sessions ===

    /// Writes a new session, claims it as its teacher's open session, then
    /// lists it for search and the sweeper, unless the teacher already has an
    /// open one. The session's keys come first (marked unfinished, with an
    /// expiry lifted at the end), so a crash before the claim leaves nothing
    /// that lasts; a crash after it is finished by the next start of the
    /// same teacher or by the teacher's next look at their sessions
    /// ([`LiveStore::finish_creation`]). A claim with no session behind it is
    /// replaced.
    ///
    /// `code_secret`: the secret of the session's check-in code, written in
    /// the same script as the session.
    pub async fn create_session(
        &self,
        meta: &SessionMeta,
        code_secret: Option<&CodeSecret>,
        now_ms: i64,
    ) -> StoreResult<ClaimOutcome> {
        let id = meta.attendance_id;
        let json = meta.to_json();
        let meta_key = self.keys.meta(id);
        // Long past any end: only a crash between the steps leaves it set.
        let expiry_ms = (meta.end_ms - now_ms).max(0) + UNCLAIMED_SESSION_GRACE_MS;
        self.run(
            &scripts::CREATE_META,
            vec![meta_key.clone()],
            vec![
                json,
                meta.end_ms.to_string(),
                flag(meta.is_deleted).into(),
                meta.teacher_school_number.clone(),
                expiry_ms.to_string(),
                code_secret.map(CodeSecret::to_hex).unwrap_or_default(),
            ],
        )
        .await?;
        let teacher = &meta.teacher_school_number;
        let mut replace = String::new();
        loop {
            let (status, items) = reply(
                self.run(
                    &scripts::CLAIM_SESSION,
                    vec![self.keys.teacher_claim(teacher), self.keys.teacher_sessions(teacher)],
                    vec![id.to_string(), meta.end_ms.to_string(), now_ms.to_string(), replace.clone()],
                )
                .await?,
            )?;
            if status == "claimed" {
                self.finish_creation(meta).await?;
                return Ok(ClaimOutcome::Claimed);
            }
            let current = string_at(&items, 0)?;
            let current_id = Uuid::try_parse(&current).map_err(|err| StoreError::corrupt("a teacher's claim", err))?;
            if let Some(session) = self.session(current_id).await? {
                let _: i64 = self.pool.del(&meta_key).await?;
                if session.unfinished {
                    // Its creation stopped between claim and listing (or is
                    // running now on another replica: finishing twice is harmless).
                    self.finish_creation(&session.meta).await?;
                }
                return Ok(ClaimOutcome::TeacherHasOpenSession(current_id));
            }
            if replace == current {
                let _: i64 = self.pool.del(&meta_key).await?;
                return Ok(ClaimOutcome::TeacherHasOpenSession(current_id));
            }
            tracing::warn!(teacher = %teacher, phantom = %current_id, "replacing a claim with no session behind it");
            replace = current;
        }
    }

    /// The last steps of creating a claimed session: list it in its shard,
    /// then mark it finished and lift its expiry. Each step may be repeated.
    pub async fn finish_creation(&self, meta: &SessionMeta) -> StoreResult<()> {
        self.update_listing(Listing::Open(meta)).await?;
        let meta_key = self.keys.meta(meta.attendance_id);
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hdel(&meta_key, "unfinished").await?;
        let _: () = pipeline.persist(&meta_key).await?;
        let _: (i64, bool) = pipeline.all().await?;
        Ok(())
    }

    async fn update_listing(&self, change: Listing<'_>) -> StoreResult<()> {
        let (mode, id, end_ms, json) = match change {
            Listing::Open(meta) => ("list", meta.attendance_id, meta.end_ms, meta.to_json()),
            Listing::Closed(meta) => ("close", meta.attendance_id, meta.end_ms, String::new()),
            Listing::Dropped(id) => ("drop", id, 0, String::new()),
        };
        let shard = shard_of_session(id);
        self.run(
            &scripts::UPDATE_LISTING,
            vec![self.keys.ending(shard), self.keys.open_sessions(shard), self.keys.open_sessions_generation(shard)],
            vec![mode.into(), id.to_string(), end_ms.to_string(), json],
        )
        .await?;
        Ok(())
    }

    async fn release_claim(&self, teacher: &str, id: Uuid, forget: bool) -> StoreResult<()> {
        self.run(
            &scripts::RELEASE_CLAIM,
            vec![self.keys.teacher_claim(teacher), self.keys.teacher_sessions(teacher)],
            vec![id.to_string(), flag(forget).into()],
        )
        .await?;
        Ok(())
    }

    pub async fn session(&self, id: Uuid) -> StoreResult<Option<LiveSession>> {
        Ok(self.sessions(&[id]).await?.pop())
    }

    /// The session, every record and the version, read atomically.
    pub async fn snapshot(&self, id: Uuid) -> StoreResult<Option<Snapshot>> {
        let value = self.run(&scripts::SNAPSHOT, vec![self.keys.meta(id), self.keys.records(id)], vec![]).await?;
        if value.is_null() {
            return Ok(None);
        }
        let mut items = value.into_array().into_iter();
        let json = items.next().and_then(|v| v.as_string()).unwrap_or_default();
        let version = items.next().and_then(|v| v.as_string());
        let fields = items.next().map(Value::into_array).unwrap_or_default();
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
        Ok(Some(Snapshot { meta, version, records, malformed }))
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

    /// The session, the student's record and any earlier answer to this
    /// request, in one round trip.
    pub async fn precheck(&self, id: Uuid, student: &str, request_key: Option<&str>) -> StoreResult<Option<Precheck>> {
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hmget(self.keys.meta(id), vec!["json", "code_secret"]).await?;
        let _: () = pipeline.hget(self.keys.records(id), student).await?;
        let _: () = pipeline.hget(self.keys.requests(id), request_key.unwrap_or("")).await?;
        let (meta, record, replay): (MetaWithSecret, Option<String>, Option<String>) = pipeline.all().await?;
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

    /// Check-in: one atomic script (see `scripts::ATTEND`), which also counts
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
            &scripts::ATTEND,
            vec![
                self.keys.meta(id),
                self.keys.records(id),
                self.keys.requests(id),
                self.keys.attend_limit(id, &record.student_number),
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
            other => return Err(StoreError::corrupt("a script reply", format!("status {other:?}"))),
        })
    }

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
                &scripts::WRITE_RECORD,
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
                &scripts::WRITE_META,
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

    /// After a session closed early (finished or deleted): free the
    /// teacher's claim and update its index shard to match.
    pub async fn close_in_index(&self, meta: &SessionMeta) -> StoreResult<()> {
        self.release_claim(&meta.teacher_school_number, meta.attendance_id, false).await?;
        self.update_listing(Listing::Closed(meta)).await
    }

    // === finding sessions ===

    /// Each shard's generation of open sessions (0 if never changed), in one
    /// round trip: a replica reloads only the shards whose number moved.
    pub async fn open_session_generations(&self) -> StoreResult<Vec<u64>> {
        let pipeline = self.pool.next().pipeline();
        for shard in 0..SHARDS {
            let _: () = pipeline.get(self.keys.open_sessions_generation(shard)).await?;
        }
        let generations: Vec<Option<u64>> = pipeline.all().await?;
        Ok(generations.into_iter().map(Option::unwrap_or_default).collect())
    }

    /// The sessions listed as open in one shard. Callers filter by
    /// `is_active(now)`, since a session that ran out without being finished
    /// stays listed until archived. Unreadable entries are skipped and logged.
    pub async fn open_sessions_in_shard(&self, shard: u32) -> StoreResult<Vec<SessionMeta>> {
        let values: HashMap<String, String> = self.pool.hgetall(self.keys.open_sessions(shard)).await?;
        Ok(values
            .into_iter()
            .filter_map(|(id, json)| match SessionMeta::from_json(&json) {
                Ok(meta) => Some(meta),
                Err(err) => {
                    tracing::error!(attendance_id = %id, error = %err, "unreadable open session in the index; skipped");
                    None
                }
            })
            .collect())
    }

    /// The teacher's open session, if the claim is still current.
    pub async fn teacher_open_session(&self, teacher: &str, now_ms: i64) -> StoreResult<Option<LiveSession>> {
        let claim: Option<String> = self.pool.get(self.keys.teacher_claim(teacher)).await?;
        let Some(id) = claim.and_then(|claim| claim.split_once('|').and_then(|(id, _)| Uuid::try_parse(id).ok()))
        else {
            return Ok(None);
        };
        Ok(self.session(id).await?.filter(|session| session.meta.is_active(now_ms)))
    }

    /// Every session of this teacher still in Redis, in one round trip
    /// after the index read.
    pub async fn teacher_sessions(&self, teacher: &str) -> StoreResult<Vec<LiveSession>> {
        let ids: Vec<String> = self.pool.smembers(self.keys.teacher_sessions(teacher)).await?;
        let ids: Vec<Uuid> = ids.iter().filter_map(|id| Uuid::try_parse(id).ok()).collect();
        self.sessions(&ids).await
    }

    /// Sessions by id with their record counts, in one round trip; ids with
    /// no session are skipped.
    async fn sessions(&self, ids: &[Uuid]) -> StoreResult<Vec<LiveSession>> {
        Ok(self.sessions_with_record_of(ids, None).await?.into_iter().map(|(session, _)| session).collect())
    }

    /// Sessions by id, each with `student`'s record in it if asked for, in
    /// one round trip; ids with no session are skipped.
    async fn sessions_with_record_of(
        &self,
        ids: &[Uuid],
        student: Option<&str>,
    ) -> StoreResult<Vec<(LiveSession, Option<String>)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.pool.next().pipeline();
        for id in ids {
            let _: () = pipeline.hmget(self.keys.meta(*id), vec!["json", "version", "unfinished"]).await?;
            let _: () = pipeline.hlen(self.keys.records(*id)).await?;
            if let Some(student) = student {
                let _: () = pipeline.hget(self.keys.records(*id), student).await?;
            }
        }
        let rows: Vec<Value> = pipeline.all().await?;
        let mut sessions = Vec::with_capacity(ids.len());
        let mut rows = rows.into_iter();
        for id in ids {
            let (Some(meta), Some(count)) = (rows.next(), rows.next()) else {
                break;
            };
            let record = if student.is_some() { rows.next() } else { None };
            let mut fields = meta.into_array().into_iter();
            let (Some(json), version, unfinished) = (
                fields.next().and_then(|v| v.as_string()),
                fields.next().and_then(|v| v.as_string()),
                fields.next().is_some_and(|v| !v.is_null()),
            ) else {
                continue;
            };
            let session = LiveSession {
                meta: parse_meta(*id, &json)?,
                version: parse_version(*id, version)?,
                record_count: count.as_u64().unwrap_or(0),
                unfinished,
            };
            sessions.push((session, record.as_ref().and_then(Value::as_string)));
        }
        Ok(sessions)
    }

    /// The student's records in every session still in Redis: their own set
    /// of sessions, then one pipelined round trip over those sessions. Ids
    /// whose session is gone (archived, or a check-in that never found one)
    /// are dropped from the set on the way.
    pub async fn student_records(&self, student: &str) -> StoreResult<Vec<(LiveSession, Record)>> {
        let set = self.keys.student_sessions(student);
        let ids: Vec<String> = self.pool.smembers(&set).await?;
        let ids: Vec<Uuid> = ids.iter().filter_map(|id| Uuid::try_parse(id).ok()).collect();
        let found = self.sessions_with_record_of(&ids, Some(student)).await?;
        let gone: Vec<String> = ids
            .iter()
            .filter(|id| !found.iter().any(|(session, _)| session.meta.attendance_id == **id))
            .map(Uuid::to_string)
            .collect();
        if !gone.is_empty() {
            let _: i64 = self.pool.srem(&set, gone).await?;
        }
        found
            .into_iter()
            .filter_map(|(session, json)| {
                let json = json?;
                Some(parse_record(&format!("record {student}"), &json).map(|record| (session, record)))
            })
            .collect()
    }

    // === for the sweeper ===

    /// Sessions whose end time is at or before `before_ms`, oldest first, at
    /// most `limit`: each shard's oldest, in one round trip, merged.
    pub async fn ended_sessions(&self, before_ms: i64, limit: usize) -> StoreResult<Vec<Uuid>> {
        let ended = lowest_over_shards(&self.pool, |shard| self.keys.ending(shard), before_ms, limit).await?;
        Ok(ended.iter().filter_map(|entry| Uuid::try_parse(&entry.member).ok()).collect())
    }

    /// When the longest-ended session still in Redis ended (Unix ms), if any
    /// ended at or before `now_ms`: the sweeper's lag is `now_ms` minus this.
    pub async fn oldest_ended_ms(&self, now_ms: i64) -> StoreResult<Option<i64>> {
        let oldest = lowest_over_shards(&self.pool, |shard| self.keys.ending(shard), now_ms, 1).await?;
        Ok(oldest.first().map(|entry| entry.score as i64))
    }

    /// The teacher edits made while the session was live: (version, entry).
    pub async fn audit_entries(&self, id: Uuid) -> StoreResult<Vec<(i64, AuditEntry)>> {
        use fred::interfaces::ListInterface;
        let items: Vec<String> = self.pool.lrange(self.keys.audit(id), 0, -1).await?;
        items
            .iter()
            .map(|item| {
                let (seq, json) =
                    item.split_once('|').ok_or_else(|| StoreError::corrupt(format!("audit of {id}"), "no version"))?;
                let seq = seq.parse().map_err(|err| StoreError::corrupt(format!("audit of {id}"), err))?;
                let entry =
                    AuditEntry::from_json(json).map_err(|err| StoreError::corrupt(format!("audit of {id}"), err))?;
                Ok((seq, entry))
            })
            .collect()
    }

    pub async fn remove_archived(&self, id: Uuid, version: u64) -> StoreResult<RemoveOutcome> {
        let value = self
            .run(
                &scripts::REMOVE_ARCHIVED,
                vec![self.keys.meta(id), self.keys.records(id), self.keys.requests(id), self.keys.audit(id)],
                vec![version.to_string(), self.keys.events(id)],
            )
            .await?;
        Ok(match value.as_string().as_deref() {
            Some("removed") => RemoveOutcome::Removed,
            Some("changed") => RemoveOutcome::Changed,
            Some("gone") => RemoveOutcome::Gone,
            other => return Err(StoreError::corrupt("a script reply", format!("{other:?}"))),
        })
    }

    /// Drops an archived session from the indexes: each student's set of
    /// live sessions, the teacher's, then its shard (last, so that a crash
    /// in between leaves it to the next round, which finds it gone).
    pub async fn unindex(&self, id: Uuid, teacher: &str, students: &[String]) -> StoreResult<()> {
        if !students.is_empty() {
            let pipeline = self.pool.next().pipeline();
            for student in students {
                let _: () = pipeline.srem(self.keys.student_sessions(student), id.to_string()).await?;
            }
            let _: Vec<i64> = pipeline.all().await?;
        }
        self.release_claim(teacher, id, true).await?;
        self.update_listing(Listing::Dropped(id)).await
    }

    /// Drops an index entry whose session no longer exists (a crash between
    /// indexing and writing it, or a removal before unindexing).
    pub async fn drop_orphan_index_entry(&self, id: Uuid) -> StoreResult<()> {
        self.update_listing(Listing::Dropped(id)).await
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let _: String = self.pool.ping(None).await?;
        Ok(())
    }
}

fn flag(value: bool) -> &'static str {
    if value { "1" } else { "0" }
}

//! Finding live sessions: by index shard, by teacher, by student, and many
//! by id in one round trip.

use std::collections::HashMap;

use attn_domain::{Record, SessionMeta};
use fred::{
    interfaces::{HashesInterface, KeysInterface, SetsInterface},
    types::Value,
};
use uuid::Uuid;

use super::{LiveSession, LiveStore, parse_meta, parse_record, parse_version};
use crate::{StoreResult, keys::SHARDS};

impl LiveStore {
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
    pub(super) async fn sessions(&self, ids: &[Uuid]) -> StoreResult<Vec<LiveSession>> {
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
}

//! Upgrading from the layout before the indexes were sharded, when every
//! index shared the hash tag `{idx}`: sessions, sign-ins and face checks
//! listed there would never be archived or found again. The sweeper moves
//! them into today's keys when it starts. Every step may be repeated, so
//! two sweepers starting at once, or one stopped half-way, do no harm.

use std::collections::{HashMap, HashSet};

use fred::interfaces::{HashesInterface, KeysInterface, SetsInterface, SortedSetsInterface};
use uuid::Uuid;

use crate::{
    LiveStore, StoreResult,
    face_queue::{FaceJob, FaceQueue},
    keys::shard_of_token,
};

/// What was moved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Adopted {
    pub sessions: u64,
    pub sign_ins: u64,
    pub face_checks: u64,
}

impl LiveStore {
    /// Moves everything the old `{idx}` indexes list into the sharded ones,
    /// then deletes them. Nothing to do (one `EXISTS`) on a store that never
    /// had them.
    pub async fn adopt_legacy_indexes(&self, now_ms: i64) -> StoreResult<Adopted> {
        let keys = self.keys().clone();
        let legacy = |part: &str| keys.legacy_index(part);
        let (ending, active, teacher_active) = (legacy("ending"), legacy("active"), legacy("teacher_active"));
        let (logins, login_info) = (legacy("logins"), legacy("login_info"));
        let face = legacy("user_waiting_for_face_verification");
        let face_due = format!("{face}:due");
        let present: i64 =
            self.pool().exists(vec![&ending, &teacher_active, &logins, &login_info, &face, &face_due]).await?;
        if present == 0 {
            return Ok(Adopted::default());
        }
        let mut adopted = Adopted::default();

        let ids: Vec<String> = self.pool().zrange(&ending, 0, -1, None, false, None, false).await?;
        let claims: HashMap<String, String> = self.pool().hgetall(&teacher_active).await?;
        let mut teachers = HashSet::new();
        for id in ids.iter().filter_map(|id| Uuid::try_parse(id).ok()) {
            let Some(snapshot) = self.snapshot(id).await? else {
                continue;
            };
            let meta = &snapshot.meta;
            let teacher = &meta.teacher_school_number;
            teachers.insert(teacher.clone());
            let _: i64 = self.pool().sadd(keys.teacher_sessions(teacher), id.to_string()).await?;
            if meta.is_active(now_ms) && claims.get(teacher).is_some_and(|claimed| *claimed == id.to_string()) {
                let claim = format!("{id}|{}", meta.end_ms);
                let _: Option<String> = self
                    .pool()
                    .set(keys.teacher_claim(teacher), claim, None, Some(fred::types::SetOptions::NX), false)
                    .await?;
            }
            for record in &snapshot.records {
                self.add_student_session(&record.student_number, id).await?;
            }
            self.finish_creation(meta).await?;
            adopted.sessions += 1;
        }

        let sign_ins: HashMap<String, String> = self.pool().hgetall(&login_info).await?;
        let ends: Vec<(String, f64)> = self.pool().zrange(&logins, 0, -1, None, false, None, true).await?;
        for (hash, end) in ends {
            let Some(json) = sign_ins.get(&hash) else {
                continue;
            };
            let shard = shard_of_token(&hash);
            let _: () = self.pool().hset(keys.login_info(shard), (hash.as_str(), json.as_str())).await?;
            let _: () = self.pool().zadd(keys.logins(shard), None, None, false, false, (end, hash.as_str())).await?;
            adopted.sign_ins += 1;
        }

        let jobs: HashMap<String, String> = self.pool().hgetall(&face).await?;
        let due: HashMap<String, f64> = self
            .pool()
            .zrange::<Vec<(String, f64)>, _, _, _>(&face_due, 0, -1, None, false, None, true)
            .await?
            .into_iter()
            .collect();
        let queue = FaceQueue::new(self.pool().clone(), keys.clone());
        for (member, json) in jobs {
            let Ok(job) = serde_json::from_str::<FaceJob>(&json) else {
                tracing::error!(member, "an unreadable face check in the old queue was left behind");
                continue;
            };
            let due_ms = due.get(&member).map_or(now_ms, |due| *due as i64);
            queue.put(&job, due_ms).await?;
            adopted.face_checks += 1;
        }

        let mut old = vec![ending, active, teacher_active, logins, login_info, face, face_due];
        old.extend(teachers.iter().map(|teacher| legacy(&format!("teacher_sessions:{teacher}"))));
        for key in old {
            let _: i64 = self.pool().del(key).await?;
        }
        tracing::warn!(
            sessions = adopted.sessions,
            sign_ins = adopted.sign_ins,
            face_checks = adopted.face_checks,
            "moved the indexes of the layout before sharding into the sharded ones"
        );
        Ok(adopted)
    }
}

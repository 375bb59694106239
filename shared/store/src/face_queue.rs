//! The seeds' queue of face checks waiting for a result,
//! `user_waiting_for_face_verification`: a hash from `<student>|<attendance id>`
//! to the job, plus a sorted set of when each job is next due a look, so
//! the poller reads only what is due instead of the whole queue.

use std::sync::LazyLock;

use fred::{
    clients::Pool,
    interfaces::{HashesInterface, SortedSetsInterface},
    types::scripts::Script,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Keys, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceJob {
    pub attendance_id: Uuid,
    pub student_number: String,
    pub job_id: String,
    pub submitted_ms: i64,
    /// Consecutive errors asking the gateway about it.
    #[serde(default)]
    pub errors: u32,
}

impl FaceJob {
    fn member(&self) -> String {
        member(self.attendance_id, &self.student_number)
    }
}

fn member(attendance_id: Uuid, student: &str) -> String {
    format!("{student}|{attendance_id}")
}

/// KEYS: queue, due. ARGV: member, job id. Removes the entry only if it
/// still names this job: the student may have been given a new one since.
static REMOVE_IF_SAME_JOB: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current and cjson.decode(current)['job_id'] ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"#,
    )
});

#[derive(Clone)]
pub struct FaceQueue {
    pool: Pool,
    keys: Keys,
}

impl FaceQueue {
    pub fn new(pool: Pool, keys: Keys) -> Self {
        Self { pool, keys }
    }

    fn due_key(&self) -> String {
        format!("{}:due", self.keys.face_queue())
    }

    /// Adds (or replaces) the student's job for a session, due at `due_ms`.
    pub async fn put(&self, job: &FaceJob, due_ms: i64) -> StoreResult<()> {
        let json = serde_json::to_string(job).expect("a face job always serialises");
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hset(self.keys.face_queue(), (job.member(), json)).await?;
        let _: () = pipeline.zadd(self.due_key(), None, None, false, false, (due_ms as f64, job.member())).await?;
        let _: (i64, i64) = pipeline.all().await?;
        Ok(())
    }

    /// Jobs due at or before `now_ms`, oldest due first. Entries whose details
    /// are missing are dropped; unreadable ones are returned as errors.
    pub async fn due(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<Result<FaceJob, (String, StoreError)>>> {
        let members: Vec<String> =
            self.pool.zrangebyscore(self.due_key(), "-inf", now_ms, false, Some((0, limit as i64))).await?;
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let jobs: Vec<Option<String>> = self.pool.hmget(self.keys.face_queue(), members.clone()).await?;
        let mut out = Vec::with_capacity(members.len());
        let mut gone = Vec::new();
        for (member, job) in members.into_iter().zip(jobs) {
            match job {
                None => gone.push(member),
                Some(json) => out.push(
                    serde_json::from_str(&json)
                        .map_err(|err| (member.clone(), StoreError::corrupt(format!("face job {member}"), err))),
                ),
            }
        }
        if !gone.is_empty() {
            let _: i64 = self.pool.zrem(self.due_key(), gone).await?;
        }
        Ok(out)
    }

    /// Looks at an unreadable entry again later instead of every round.
    pub async fn postpone(&self, member: &str, due_ms: i64) -> StoreResult<()> {
        let _: () = self.pool.zadd(self.due_key(), None, None, false, false, (due_ms as f64, member)).await?;
        Ok(())
    }

    /// Removes a finished job — unless the student has since been given a
    /// new job for the same session (the entry then names another job).
    pub async fn remove(&self, job: &FaceJob) -> StoreResult<()> {
        let _: i64 = REMOVE_IF_SAME_JOB
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.keys.face_queue(), self.due_key()],
                vec![job.member(), job.job_id.clone()],
            )
            .await?;
        Ok(())
    }

    /// How many jobs are waiting.
    pub async fn len(&self) -> StoreResult<u64> {
        Ok(self.pool.hlen(self.keys.face_queue()).await?)
    }
}

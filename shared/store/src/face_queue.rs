//! The seeds' queue of face checks waiting for a result,
//! `user_waiting_for_face_verification`: a hash from `<student>|<attendance id>`
//! to the job, plus a sorted set of when each job is next due a look, so
//! the poller reads only what is due instead of the whole queue. Split into
//! the index shards by session, so a campus's check-ins spread over a
//! cluster; the poller reads every shard in one round trip.

use std::sync::LazyLock;

use fred::{
    clients::Pool,
    interfaces::{HashesInterface, SortedSetsInterface},
    types::scripts::Script,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Keys, StoreError, StoreResult,
    keys::{SHARDS, shard_of_session},
    shards::{Scored, lowest_over_shards},
};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceJob {
    pub attendance_id: Uuid,
    pub student_number: String,
    pub job_id: String,
    pub submitted_ms: i64,
    /// Consecutive errors asking the gateway about it.
    #[serde(default)]
    pub errors: u32,
    /// The check-in's W3C `traceparent`, so the sweeper's look at the job
    /// belongs to the check-in's trace. Absent when nothing was traced (and
    /// in jobs queued before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl FaceJob {
    fn member(&self) -> String {
        member(self.attendance_id, &self.student_number)
    }
}

fn member(attendance_id: Uuid, student: &str) -> String {
    format!("{student}|{attendance_id}")
}

/// The shard a queue entry lives in, from the session id at its end.
fn shard_of_member(member: &str) -> StoreResult<u32> {
    member
        .rsplit_once('|')
        .and_then(|(_, id)| Uuid::try_parse(id).ok())
        .map(shard_of_session)
        .ok_or_else(|| StoreError::corrupt(format!("face queue entry {member:?}"), "no attendance id"))
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

    fn queue_key(&self, shard: u32) -> String {
        self.keys.face_queue(shard)
    }

    fn due_key(&self, shard: u32) -> String {
        format!("{}:due", self.keys.face_queue(shard))
    }

    /// Adds (or replaces) the student's job for a session, due at `due_ms`.
    pub async fn put(&self, job: &FaceJob, due_ms: i64) -> StoreResult<()> {
        let shard = shard_of_session(job.attendance_id);
        let json = serde_json::to_string(job).expect("a face job always serialises");
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hset(self.queue_key(shard), (job.member(), json)).await?;
        let _: () = pipeline.zadd(self.due_key(shard), None, None, false, false, (due_ms as f64, job.member())).await?;
        let _: (i64, i64) = pipeline.all().await?;
        Ok(())
    }

    /// Jobs due at or before `now_ms`, oldest due first, at most `limit`.
    /// Entries whose details are missing are dropped; unreadable ones are
    /// returned as errors.
    pub async fn due(&self, now_ms: i64, limit: usize) -> StoreResult<Vec<Result<FaceJob, (String, StoreError)>>> {
        let due = lowest_over_shards(&self.pool, |shard| self.due_key(shard), now_ms, limit).await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let pipeline = self.pool.next().pipeline();
        for entry in &due {
            let _: () = pipeline.hget(self.queue_key(entry.shard), entry.member.as_str()).await?;
        }
        let jobs: Vec<Option<String>> = pipeline.all().await?;
        let mut out = Vec::with_capacity(due.len());
        let gone = self.pool.next().pipeline();
        let mut any_gone = false;
        for (Scored { member, shard, .. }, job) in due.into_iter().zip(jobs) {
            match job {
                None => {
                    any_gone = true;
                    let _: () = gone.zrem(self.due_key(shard), member).await?;
                }
                Some(json) => out.push(
                    serde_json::from_str(&json)
                        .map_err(|err| (member.clone(), StoreError::corrupt(format!("face job {member}"), err))),
                ),
            }
        }
        if any_gone {
            let _: Vec<i64> = gone.all().await?;
        }
        Ok(out)
    }

    /// Looks at an unreadable entry again later instead of every round.
    pub async fn postpone(&self, member: &str, due_ms: i64) -> StoreResult<()> {
        let shard = shard_of_member(member)?;
        let _: () = self.pool.zadd(self.due_key(shard), None, None, false, false, (due_ms as f64, member)).await?;
        Ok(())
    }

    /// Removes a finished job — unless the student has since been given a
    /// new job for the same session (the entry then names another job).
    pub async fn remove(&self, job: &FaceJob) -> StoreResult<()> {
        let shard = shard_of_session(job.attendance_id);
        let _: i64 = REMOVE_IF_SAME_JOB
            .evalsha_with_reload(
                self.pool.next(),
                vec![self.queue_key(shard), self.due_key(shard)],
                vec![job.member(), job.job_id.clone()],
            )
            .await?;
        Ok(())
    }

    /// When the longest-waiting job was submitted (Unix ms), if any wait.
    /// Reads every waiting job: the queue holds only checks in flight.
    pub async fn oldest_submitted_ms(&self) -> StoreResult<Option<i64>> {
        let pipeline = self.pool.next().pipeline();
        for shard in 0..SHARDS {
            let _: () = pipeline.hvals(self.queue_key(shard)).await?;
        }
        let shards: Vec<Vec<String>> = pipeline.all().await?;
        Ok(shards
            .iter()
            .flatten()
            .filter_map(|json| serde_json::from_str::<FaceJob>(json).ok())
            .map(|job| job.submitted_ms)
            .min())
    }

    /// How many jobs are waiting, over every shard.
    pub async fn len(&self) -> StoreResult<u64> {
        let pipeline = self.pool.next().pipeline();
        for shard in 0..SHARDS {
            let _: () = pipeline.hlen(self.queue_key(shard)).await?;
        }
        let lengths: Vec<u64> = pipeline.all().await?;
        Ok(lengths.into_iter().sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traceparent_is_one_optional_field_and_older_jobs_still_read() {
        let job = FaceJob {
            attendance_id: Uuid::nil(),
            student_number: "s1".into(),
            job_id: "j1".into(),
            submitted_ms: 5,
            errors: 0,
            traceparent: None,
        };
        let untraced = serde_json::to_string(&job).unwrap();
        assert!(!untraced.contains("traceparent"), "{untraced}");
        let traced =
            FaceJob { traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()), ..job };
        let json = serde_json::to_string(&traced).unwrap();
        assert_eq!(serde_json::from_str::<FaceJob>(&json).unwrap(), traced);
        let before = r#"{"attendance_id":"00000000-0000-0000-0000-000000000000","student_number":"s1","job_id":"j1","submitted_ms":5}"#;
        assert_eq!(serde_json::from_str::<FaceJob>(before).unwrap().traceparent, None);
    }
}

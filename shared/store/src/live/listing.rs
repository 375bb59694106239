//! A session's places in the indexes: its teacher's claim and set of
//! sessions, and its index shard (open for search, ending for the sweeper).

use std::sync::LazyLock;

use attn_domain::SessionMeta;
use fred::{interfaces::SetsInterface, types::scripts::Script};
use uuid::Uuid;

use super::{LiveStore, flag};
use crate::{StoreResult, keys::shard_of_session};

/// How a listing change is applied to a session's index shard.
pub(super) enum Listing<'a> {
    Open(&'a SessionMeta),
    Closed(&'a SessionMeta),
    Dropped(Uuid),
}

/// Frees the teacher's claim if it names this session (closed early,
/// archived, or a creation that lost the race); `forget` also drops the
/// session from the teacher's set.
///
/// KEYS: teacher claim, teacher sessions. ARGV: id, forget ('0'/'1').
pub(super) static RELEASE_CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local current = redis.call('GET', KEYS[1])
if current and string.sub(current, 1, #ARGV[1] + 1) == ARGV[1] .. '|' then
  redis.call('DEL', KEYS[1])
end
if ARGV[2] == '1' then redis.call('SREM', KEYS[2], ARGV[1]) end
return 1
"#,
    )
});

/// Changes one session's entries in its index shard and bumps the shard's
/// generation, so every replica's copy of the open sessions reloads it.
/// 'list': in `ending` at its end and open for search; 'close': `ending`
/// moved to its new end (if still there), no longer open; 'drop': gone from
/// both.
///
/// KEYS: ending, open sessions, generation. ARGV: mode, id, end (ms), JSON.
pub(super) static UPDATE_LISTING: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
if ARGV[1] == 'list' then
  redis.call('ZADD', KEYS[1], ARGV[3], ARGV[2])
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
elseif ARGV[1] == 'close' then
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[2])
  redis.call('HDEL', KEYS[2], ARGV[2])
else
  redis.call('ZREM', KEYS[1], ARGV[2])
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return redis.call('INCR', KEYS[3])
"#,
    )
});

impl LiveStore {
    pub(super) async fn update_listing(&self, change: Listing<'_>) -> StoreResult<()> {
        let (mode, id, end_ms, json) = match change {
            Listing::Open(meta) => ("list", meta.attendance_id, meta.end_ms, meta.to_json()),
            Listing::Closed(meta) => ("close", meta.attendance_id, meta.end_ms, String::new()),
            Listing::Dropped(id) => ("drop", id, 0, String::new()),
        };
        let shard = shard_of_session(id);
        self.run(
            &UPDATE_LISTING,
            vec![self.keys.ending(shard), self.keys.open_sessions(shard), self.keys.open_sessions_generation(shard)],
            vec![mode.into(), id.to_string(), end_ms.to_string(), json],
        )
        .await?;
        Ok(())
    }

    async fn release_claim(&self, teacher: &str, id: Uuid, forget: bool) -> StoreResult<()> {
        self.run(
            &RELEASE_CLAIM,
            vec![self.keys.teacher_claim(teacher), self.keys.teacher_sessions(teacher)],
            vec![id.to_string(), flag(forget).into()],
        )
        .await?;
        Ok(())
    }

    /// After a session closed early (finished or deleted): free the
    /// teacher's claim and update its index shard to match.
    pub async fn close_in_index(&self, meta: &SessionMeta) -> StoreResult<()> {
        self.release_claim(&meta.teacher_school_number, meta.attendance_id, false).await?;
        self.update_listing(Listing::Closed(meta)).await
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
}

//! What the sweeper reads and removes: ended sessions, a session's audit
//! of live edits, and the removal of an archived session (its own script).

use std::sync::LazyLock;

use attn_domain::AuditEntry;
use fred::types::scripts::Script;
use uuid::Uuid;

use super::LiveStore;
use crate::{StoreError, StoreResult, shards::lowest_over_shards};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemoveOutcome {
    Removed,
    /// Changed since it was read: archive it again next round.
    Changed,
    /// Already removed.
    Gone,
}

/// After the archive committed: remove a session from Redis, but only if it
/// has not changed since it was read. A change means an edit raced the
/// archive; the session stays for the next round, which archives it again.
///
/// KEYS: meta, records, requests, audit, roster, legacy enrolled set. ARGV: expected version,
/// events channel.
/// Returns 'removed' | 'changed' | 'gone'.
pub(super) static REMOVE_ARCHIVED: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return 'gone' end
if version ~= ARGV[1] then return 'changed' end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('PUBLISH', ARGV[2], (tonumber(version) + 1) .. '|x|')
return 'removed'
"#,
    )
});

impl LiveStore {
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
                &REMOVE_ARCHIVED,
                vec![
                    self.keys.meta(id),
                    self.keys.records(id),
                    self.keys.requests(id),
                    self.keys.audit(id),
                    self.keys.roster(id),
                    self.keys.legacy_enrolled(id),
                ],
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
}

//! This replica's copy of the open sessions, which students search.
//!
//! Loaded from Redis's index shards at start, then kept current by reading
//! every shard's generation each `ATTN_OPEN_SESSIONS_REFRESH_MS` (one
//! pipelined round trip) and reloading only the shards whose generation
//! moved. Sessions started or closed on this replica apply at once. A search
//! reads memory only, so its cost does not grow with what the campus has
//! open; if Redis has not answered for a while, searches fail with
//! UNAVAILABLE rather than show a stale list.

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use attn_domain::{
    SessionMeta,
    search::{Query, SearchCursor, SearchIndex, SearchPage},
};
use attn_runtime::{ApiError, ApiResult, Shutdown};
use attn_store::{
    LiveStore, StoreResult,
    keys::{SHARDS, shard_of_session},
};
use uuid::Uuid;

pub struct OpenSessions {
    index: RwLock<SearchIndex>,
    /// Each shard's generation as last loaded. Held while the copy changes,
    /// so a reload that read Redis before this replica's own change cannot
    /// undo it.
    loaded_generations: tokio::sync::Mutex<Vec<Option<u64>>>,
    last_success: RwLock<Instant>,
    /// Searches fail once the copy is older than this.
    max_age: Duration,
}

impl OpenSessions {
    /// Loads every shard; fails if Redis does not answer.
    pub async fn load(live: &LiveStore, refresh_every: Duration) -> StoreResult<Arc<Self>> {
        let sessions = Arc::new(Self {
            index: RwLock::new(SearchIndex::default()),
            loaded_generations: tokio::sync::Mutex::new(vec![None; SHARDS as usize]),
            last_success: RwLock::new(Instant::now()),
            max_age: (refresh_every * 10).max(Duration::from_secs(3)),
        });
        sessions.refresh(live).await?;
        Ok(sessions)
    }

    /// Refreshes the copy until shutdown; failures are logged and retried.
    pub fn spawn_refresh(self: &Arc<Self>, live: LiveStore, every: Duration, shutdown: Shutdown) {
        let sessions = Arc::clone(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = shutdown.triggered() => return,
                    _ = ticks.tick() => {}
                }
                match sessions.refresh(&live).await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("the copy of the open sessions is current again");
                    }
                    Ok(_) => {}
                    Err(err) if !failing => {
                        failing = true;
                        tracing::warn!(error = %err, "cannot refresh the copy of the open sessions; retrying");
                    }
                    Err(_) => {}
                }
            }
        });
    }

    /// Reloads the shards whose generation moved; returns how many.
    async fn refresh(&self, live: &LiveStore) -> StoreResult<usize> {
        let mut loaded = self.loaded_generations.lock().await;
        let generations = live.open_session_generations().await?;
        let mut reloaded = 0;
        for (shard, generation) in (0..SHARDS).zip(generations) {
            if loaded[shard as usize] == Some(generation) {
                continue;
            }
            // Read after the generation, so the copy is at least that new.
            let sessions = live.open_sessions_in_shard(shard).await?;
            let mut index = self.index.write().expect("the search index lock is never poisoned");
            index.remove_where(|id| shard_of_session(id) == shard);
            for meta in sessions {
                index.insert(meta);
            }
            drop(index);
            loaded[shard as usize] = Some(generation);
            reloaded += 1;
        }
        *self.last_success.write().expect("never poisoned") = Instant::now();
        Ok(reloaded)
    }

    /// Sessions in the copy (for `attn_sessions_open`).
    pub fn len(&self) -> usize {
        self.index.read().expect("never poisoned").len()
    }

    /// An open session in the copy, for its check-in settings (which never
    /// change, so a copy older than a search accepts still has them right).
    pub fn get(&self, id: Uuid) -> Option<Arc<SessionMeta>> {
        self.index.read().expect("never poisoned").get(id).cloned()
    }

    /// A session this replica just started (already in Redis).
    pub async fn opened(&self, meta: SessionMeta) {
        let _loaded = self.loaded_generations.lock().await;
        self.index.write().expect("never poisoned").insert(meta);
    }

    /// A session this replica just finished or deleted (already in Redis).
    pub async fn closed(&self, id: Uuid) {
        let _loaded = self.loaded_generations.lock().await;
        self.index.write().expect("never poisoned").remove(id);
    }

    /// One page of the sessions open at `now_ms` that match.
    pub fn search(
        &self,
        query: &Query,
        after: Option<SearchCursor>,
        limit: usize,
        now_ms: i64,
    ) -> ApiResult<SearchPage> {
        let age = self.last_success.read().expect("never poisoned").elapsed();
        if age > self.max_age {
            return Err(ApiError::unavailable(format!(
                "the list of open sessions could not be refreshed for {}s; try again shortly",
                age.as_secs()
            )));
        }
        let index = self.index.read().expect("never poisoned");
        Ok(index.search(query, after, limit, |meta| meta.is_active(now_ms)))
    }
}

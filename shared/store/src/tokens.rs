//! Sign-in sessions in Redis.
//!
//! A token is random and given to the client once; Redis keeps only its
//! SHA-256, with a TTL per role. Every sign-in is also listed in an index
//! (`logins`, scored by when it ends) with its details (`login_info`), so the
//! sweeper can archive sign-ins that expired or were logged out without
//! scanning the keyspace.

pub use attn_domain::sign_in::{SignIn, hash_token};
use attn_runtime::auth::{SignInLookup, SignIns};
use fred::{
    clients::Pool,
    interfaces::{HashesInterface, KeysInterface, PubsubInterface, SortedSetsInterface},
    types::Expiration,
};

use crate::{
    Keys, SignInCache, StoreError, StoreResult,
    keys::shard_of_token,
    shards::{Scored, lowest_over_shards},
};

/// A sign-in that has ended, ready for the login history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSignIn {
    pub token_hash: String,
    pub sign_in: SignIn,
    pub ended_ms: i64,
    /// Ended before it expired: the user logged out.
    pub logged_out: bool,
}

#[derive(Clone)]
pub struct TokenStore {
    pool: Pool,
    keys: Keys,
    cache: Option<SignInCache>,
}

impl TokenStore {
    pub fn new(pool: Pool, keys: Keys) -> Self {
        Self { pool, keys, cache: None }
    }

    /// Serves lookups from `cache` where it can (see [`SignInCache`]).
    pub fn with_cache(self, cache: SignInCache) -> Self {
        Self { cache: Some(cache), ..self }
    }

    /// Stores a new sign-in under the token's hash, and in the index shard
    /// of that hash for the sweeper. The token is handed out only if every
    /// write succeeded; one that half-failed (a cluster node down) is never
    /// given to anyone and expires by itself.
    pub async fn issue(&self, token_hash: &str, sign_in: &SignIn) -> StoreResult<()> {
        let json = serde_json::to_string(sign_in).expect("a sign-in always serialises");
        let ttl_ms = (sign_in.expires_ms - sign_in.started_ms).max(1);
        let shard = shard_of_token(token_hash);
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hset(self.keys.login_info(shard), (token_hash, json.as_str())).await?;
        let _: () = pipeline
            .zadd(self.keys.logins(shard), None, None, false, false, (sign_in.expires_ms as f64, token_hash))
            .await?;
        let _: () =
            pipeline.set(self.keys.token(token_hash), json.as_str(), Some(Expiration::PX(ttl_ms)), None, false).await?;
        let _: ((), (), ()) = pipeline.all().await?;
        Ok(())
    }

    /// The sign-in a token belongs to, if it is still valid at `now_ms`:
    /// from this replica's cache, or one round trip to Redis.
    ///
    /// Only lookups fill the cache, not [`TokenStore::issue`]: filling it at
    /// sign-in kept attendance-service ~15 MiB larger after a 2,000-student
    /// sign-in burst (attn-bench), for nothing, since the first call after
    /// signing in reads and caches the token anyway.
    pub async fn lookup(&self, token_hash: &str, now_ms: i64) -> StoreResult<Option<SignIn>> {
        let Some(cache) = &self.cache else {
            return self.read(token_hash).await;
        };
        if let Some(sign_in) = cache.get(token_hash, now_ms) {
            cache.count_lookup(true);
            return Ok(Some(sign_in));
        }
        cache.count_lookup(false);
        let ticket = cache.ticket();
        let sign_in = self.read(token_hash).await?;
        if let Some(sign_in) = &sign_in {
            cache.insert(ticket, token_hash, sign_in, now_ms);
        }
        Ok(sign_in)
    }

    /// Whether the token still signs someone in, asked of Redis itself
    /// (never the cache): for checking again after revocations may have
    /// been missed.
    pub async fn is_signed_in(&self, token_hash: &str) -> StoreResult<bool> {
        let exists: bool = self.pool.exists(self.keys.token(token_hash)).await?;
        Ok(exists)
    }

    async fn read(&self, token_hash: &str) -> StoreResult<Option<SignIn>> {
        let json: Option<String> = self.pool.get(self.keys.token(token_hash)).await?;
        json.map(|json| serde_json::from_str(&json).map_err(|err| StoreError::corrupt("a sign-in", err))).transpose()
    }

    /// Logout: the token stops working now, on every replica (the hash is
    /// published for their caches), and the index records when.
    pub async fn revoke(&self, token_hash: &str, now_ms: i64) -> StoreResult<()> {
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.del(self.keys.token(token_hash)).await?;
        let _: () = pipeline
            .zadd(
                self.keys.logins(shard_of_token(token_hash)),
                Some(fred::types::SetOptions::XX),
                None,
                false,
                false,
                (now_ms as f64, token_hash),
            )
            .await?;
        let _: () = pipeline.publish(self.keys.revoked_tokens(), token_hash).await?;
        let _: (i64, i64, i64) = pipeline.all().await?;
        // Here at once; other replicas (and this one again) through the channel.
        if let Some(cache) = &self.cache {
            cache.forget(token_hash);
        }
        Ok(())
    }

    /// Sign-ins that ended at or before `now_ms`, up to `limit` (the oldest
    /// of every shard, in two round trips), and the token hashes of entries
    /// whose details are unreadable (left in place).
    pub async fn ended(&self, now_ms: i64, limit: usize) -> StoreResult<(Vec<EndedSignIn>, Vec<(String, StoreError)>)> {
        let ended = lowest_over_shards(&self.pool, |shard| self.keys.logins(shard), now_ms, limit).await?;
        if ended.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let pipeline = self.pool.next().pipeline();
        for entry in &ended {
            let _: () = pipeline.hget(self.keys.login_info(entry.shard), entry.member.as_str()).await?;
        }
        let infos: Vec<Option<String>> = pipeline.all().await?;
        let mut out = Vec::with_capacity(ended.len());
        let mut orphans = Vec::new();
        let mut malformed = Vec::new();
        for (Scored { member: token_hash, score: ended_at, .. }, info) in ended.into_iter().zip(infos) {
            // An index entry without details (a crash mid-write): nothing to archive.
            let Some(info) = info else {
                orphans.push(token_hash);
                continue;
            };
            let sign_in: SignIn = match serde_json::from_str(&info) {
                Ok(sign_in) => sign_in,
                Err(err) => {
                    malformed.push((token_hash, StoreError::corrupt("a sign-in in the login index", err)));
                    continue;
                }
            };
            let ended_ms = ended_at as i64;
            out.push(EndedSignIn { logged_out: ended_ms < sign_in.expires_ms, token_hash, sign_in, ended_ms });
        }
        self.forget(&orphans).await?;
        Ok((out, malformed))
    }

    /// Forgets archived sign-ins.
    pub async fn forget(&self, token_hashes: &[String]) -> StoreResult<()> {
        if token_hashes.is_empty() {
            return Ok(());
        }
        let pipeline = self.pool.next().pipeline();
        for hash in token_hashes {
            let shard = shard_of_token(hash);
            let _: () = pipeline.zrem(self.keys.logins(shard), hash.as_str()).await?;
            let _: () = pipeline.hdel(self.keys.login_info(shard), hash.as_str()).await?;
        }
        let _: Vec<i64> = pipeline.all().await?;
        Ok(())
    }
}

/// The auth layer's lookup: [`TokenStore::lookup`], its errors as the API's.
impl SignIns for TokenStore {
    fn sign_in<'a>(&'a self, token_hash: &'a str, now_ms: i64) -> SignInLookup<'a> {
        Box::pin(async move { Ok(self.lookup(token_hash, now_ms).await?) })
    }
}

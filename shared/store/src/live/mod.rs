//! Live attendance sessions in Redis.
//!
//! Layout (see [`Keys`]): per session a `meta` hash, a `records` hash
//! (student → record JSON), a `requests` hash for replayed check-ins and an
//! `audit` list; per teacher a claim and a set of sessions; per student a
//! set of sessions with a live record; and sharded indexes of open and
//! ending sessions. No student-facing read touches more than the caller's
//! own keys and the sessions it names, however many sessions are open.
//! Every change to a session goes through one of the Lua scripts, each kept
//! with its wrapper and reply parser in one of this module's files (the
//! rules all of them keep are in `scripts.rs`); each bumps the session's
//! `version` and publishes the change on its events channel.
//!
//! This file holds the store itself, the session type every read returns
//! and the parsers the others share.

mod attend;
mod create;
mod find;
mod listing;
mod reads;
mod sweep;
mod writes;

use attn_domain::{Record, SessionMeta};
use fred::{
    clients::Pool,
    interfaces::ClientLike,
    types::{Value, scripts::Script},
};
use uuid::Uuid;

pub use attend::{AttendOutcome, request_key};
pub use create::ClaimOutcome;
pub use reads::{Precheck, Snapshot};
pub use sweep::RemoveOutcome;
pub use writes::WriteOutcome;

use crate::{Keys, StoreError, StoreResult, redis::RedisSettings, scripts};

#[derive(Clone)]
pub struct LiveStore {
    pool: Pool,
    keys: Keys,
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

fn parse_record(what: &str, json: &str) -> StoreResult<Record> {
    Record::from_json(json).map_err(|err| StoreError::corrupt(what, err))
}

fn parse_meta(id: Uuid, json: &str) -> StoreResult<SessionMeta> {
    SessionMeta::from_json(json).map_err(|err| StoreError::corrupt(format!("session {id}"), err))
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

/// Every script a live store runs, loaded up front.
fn all_scripts() -> [&'static Script; 10] {
    [
        &scripts::RATE_LIMIT,
        &attend::ATTEND,
        &writes::WRITE_RECORD,
        &writes::WRITE_META,
        &reads::SNAPSHOT,
        &create::CREATE_META,
        &create::CLAIM_SESSION,
        &listing::RELEASE_CLAIM,
        &listing::UPDATE_LISTING,
        &sweep::REMOVE_ARCHIVED,
    ]
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
        for script in all_scripts() {
            script.load(self.pool.next()).await?;
        }
        Ok(())
    }

    async fn run(&self, script: &Script, keys: Vec<String>, args: Vec<String>) -> StoreResult<Value> {
        Ok(script.evalsha_with_reload(self.pool.next(), keys, args).await?)
    }

    pub async fn ping(&self) -> StoreResult<()> {
        let _: String = self.pool.ping(None).await?;
        Ok(())
    }
}

fn flag(value: bool) -> &'static str {
    if value { "1" } else { "0" }
}

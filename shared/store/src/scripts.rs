//! The Lua scripts that make each change to a live session atomic: the
//! rules they all keep, and the rate limit that more than one of them runs.
//! Each script itself sits in `live/` with its wrapper and reply parser.
//!
//! Each script touches the keys of one hash tag only (one session, one
//! teacher, or one index shard), so it runs on Redis Cluster too. The scripts hold no rules of
//! their own: Rust decides what a record becomes; a script only checks that
//! nothing changed underneath and writes, bumps the session's version and
//! publishes the change in the same step.

use std::sync::LazyLock;

use fred::types::scripts::Script;

/// A rate limit as a Lua function, for scripts to include: the generic cell
/// rate algorithm, with Redis's own clock so every replica counts alike.
/// `limited(key, per_minute)` lets `per_minute` calls through at once, then
/// one every `60 s / per_minute`; it returns 0 when the call may go ahead
/// (and counts it), else the milliseconds until one may.
pub(crate) const GCRA: &str = r#"
local function limited(key, per_minute)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local interval = 60000 / per_minute
  local tat = tonumber(redis.call('GET', key)) or now
  if tat < now then tat = now end
  local allowed_at = tat + interval - 60000
  if allowed_at > now then return math.ceil(allowed_at - now) end
  redis.call('SET', key, tostring(tat + interval), 'PX', math.ceil(tat + interval - now) + 1)
  return 0
end
"#;

/// One rate limit. KEYS: the limit's key. ARGV: calls per minute.
/// Returns 0 (go ahead, counted) or the milliseconds to wait.
pub static RATE_LIMIT: LazyLock<Script> =
    LazyLock::new(|| Script::from_lua(format!("{GCRA}\nreturn limited(KEYS[1], tonumber(ARGV[1]))")));

//! The Lua scripts that make each change to a live session atomic.
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
const GCRA: &str = r#"
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

/// Check-in. Counts the attempt against the student's limit for this
/// session, replays an earlier answer to the same request, refuses unknown,
/// deleted and ended sessions and records that may not be retried, else
/// writes the record.
///
/// KEYS: meta, records, requests, the student's limit. ARGV: student,
/// request key ('' for none), record JSON, now (ms), events channel,
/// attempts per minute ('0': no limit).
/// Returns {'limited', ms} | {'replayed', json} | {'not_found'} | {'deleted'}
///       | {'ended'} | {'conflict', json} | {'written', json, version}.
pub static ATTEND: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(format!(
        "{GCRA}{}",
        r#"
local per_minute = tonumber(ARGV[6])
if per_minute > 0 then
  local wait = limited(KEYS[4], per_minute)
  if wait > 0 then return {'limited', wait} end
end
if ARGV[2] ~= '' then
  local prior = redis.call('HGET', KEYS[3], ARGV[2])
  if prior then return {'replayed', prior} end
end
local meta = redis.call('HMGET', KEYS[1], 'end_ms', 'deleted')
if not meta[1] then return {'not_found'} end
if meta[2] == '1' then return {'deleted'} end
if tonumber(ARGV[4]) >= tonumber(meta[1]) then return {'ended'} end
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing and not cjson.decode(existing)['may_retry'] then
  return {'conflict', existing}
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
if ARGV[2] ~= '' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[3]) end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', ARGV[5], version .. '|r|' .. ARGV[3])
return {'written', ARGV[3], version}
"#
    ))
});

/// Compare-and-set of one record, for teacher edits and face results.
///
/// KEYS: meta, records, audit. ARGV: student, expected JSON ('' = no record),
/// new JSON, events channel, audit JSON ('' = none), owner ('' = any).
/// Returns {'not_found'} | {'not_owner'} | {'changed'} | {'written', version}.
pub static WRITE_RECORD: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local teacher = redis.call('HGET', KEYS[1], 'teacher')
if not teacher then return {'not_found'} end
if ARGV[6] ~= '' and teacher ~= ARGV[6] then return {'not_owner'} end
local current = redis.call('HGET', KEYS[2], ARGV[1]) or ''
if current ~= ARGV[2] then return {'changed'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
if ARGV[5] ~= '' then redis.call('RPUSH', KEYS[3], version .. '|' .. ARGV[5]) end
redis.call('PUBLISH', ARGV[4], version .. '|r|' .. ARGV[3])
return {'written', version}
"#,
    )
});

/// Compare-and-set of the session itself (finish, delete), by version.
///
/// KEYS: meta, audit. ARGV: expected version, session JSON, end (ms),
/// deleted ('0'/'1'), events channel, audit JSON ('' = none).
/// Returns {'not_found'} | {'changed'} | {'written', version}.
pub static WRITE_META: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local current = redis.call('HGET', KEYS[1], 'version')
if not current then return {'not_found'} end
if current ~= ARGV[1] then return {'changed'} end
redis.call('HSET', KEYS[1], 'json', ARGV[2], 'end_ms', ARGV[3], 'deleted', ARGV[4])
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
if ARGV[6] ~= '' then redis.call('RPUSH', KEYS[2], version .. '|' .. ARGV[6]) end
redis.call('PUBLISH', ARGV[5], version .. '|a|' .. ARGV[2])
return {'written', version}
"#,
    )
});

/// A consistent read of a session: its JSON, version and every record.
///
/// KEYS: meta, records. Returns nil | {json, version, {student, json, ...}}.
pub static SNAPSHOT: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local meta = redis.call('HMGET', KEYS[1], 'json', 'version')
if not meta[1] then return false end
return {meta[1], meta[2], redis.call('HGETALL', KEYS[2])}
"#,
    )
});

/// Writes a new session's own keys, marked `unfinished` and with an expiry
/// until it is claimed and listed: a crash before the claim leaves nothing
/// that lasts.
///
/// KEYS: meta. ARGV: session JSON, end (ms), deleted, teacher, expiry (ms),
/// check-in code secret (hex; '' = none). The secret is a field of its own,
/// outside the JSON that indexes and events copy.
pub static CREATE_META: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'end_ms', ARGV[2], 'deleted', ARGV[3], 'teacher', ARGV[4], 'version', '0', 'unfinished', '1')
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'code_secret', ARGV[6]) end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1
"#,
    )
});

/// Claims "the teacher's one open session" for a new session, unless the
/// teacher's current claim is still open. The claim carries its session's
/// end, so this needs only the teacher's own keys. `replace` names a claim
/// the caller found to have no session behind it (a failover that lost the
/// session but not the claim): it is dropped and replaced.
///
/// KEYS: teacher claim, teacher sessions. ARGV: id, end (ms), now (ms),
/// replace ('' = none).
/// Returns {'exists', id} | {'claimed'}.
pub static CLAIM_SESSION: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local current = redis.call('GET', KEYS[1])
if current then
  local sep = string.find(current, '|', 1, true)
  local id = string.sub(current, 1, sep - 1)
  local ends = tonumber(string.sub(current, sep + 1))
  if id == ARGV[4] then
    redis.call('SREM', KEYS[2], id)
  elseif ends > tonumber(ARGV[3]) then
    return {'exists', id}
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2])
redis.call('SADD', KEYS[2], ARGV[1])
return {'claimed'}
"#,
    )
});

/// Frees the teacher's claim if it names this session (closed early,
/// archived, or a creation that lost the race); `forget` also drops the
/// session from the teacher's set.
///
/// KEYS: teacher claim, teacher sessions. ARGV: id, forget ('0'/'1').
pub static RELEASE_CLAIM: LazyLock<Script> = LazyLock::new(|| {
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
pub static UPDATE_LISTING: LazyLock<Script> = LazyLock::new(|| {
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

/// After the archive committed: remove a session from Redis, but only if it
/// has not changed since it was read. A change means an edit raced the
/// archive; the session stays for the next round, which archives it again.
///
/// KEYS: meta, records, requests, audit. ARGV: expected version, events channel.
/// Returns 'removed' | 'changed' | 'gone'.
pub static REMOVE_ARCHIVED: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
local version = redis.call('HGET', KEYS[1], 'version')
if not version then return 'gone' end
if version ~= ARGV[1] then return 'changed' end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
redis.call('PUBLISH', ARGV[2], (tonumber(version) + 1) .. '|x|')
return 'removed'
"#,
    )
});

pub fn all() -> [&'static Script; 10] {
    [
        &RATE_LIMIT,
        &ATTEND,
        &WRITE_RECORD,
        &WRITE_META,
        &SNAPSHOT,
        &CREATE_META,
        &CLAIM_SESSION,
        &RELEASE_CLAIM,
        &UPDATE_LISTING,
        &REMOVE_ARCHIVED,
    ]
}

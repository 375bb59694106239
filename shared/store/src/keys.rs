//! Every Redis key and channel ATTN uses, in one place.
//!
//! Keys are grouped by hash tag so that each script touches a single slot on
//! Redis Cluster, and so that no key every call touches sits on one node:
//! - `{a:<id>}`: one attendance session (meta, records, requests, audit,
//!   check-in limits, a course session's enrolled students);
//! - `{t:<teacher>}`: a teacher's claim on their open session and the set of
//!   their sessions still in Redis;
//! - `{s:<student>}`: the sessions a student has a live record in;
//! - `{idx:<n>}` for n in `0..SHARDS`: one shard of the indexes (ended
//!   sessions for the sweeper, open sessions for search, sign-ins, the face
//!   queue). A session belongs to the shard of its id, a sign-in to the
//!   shard of its token hash.
//!
//! Everything starts with a configurable prefix, so deployments and tests
//! can share one Redis.

use uuid::Uuid;

/// How many shards each index is split into. Fixed: changing it would
/// strand the entries of the shards that disappear.
pub const SHARDS: u32 = 16;

/// The index shard of a session: the low bits of its id, which are random
/// in both v4 and v7 UUIDs.
pub fn shard_of_session(id: Uuid) -> u32 {
    (id.as_u128() % u128::from(SHARDS)) as u32
}

/// The index shard of a sign-in, from its token hash (hex).
pub fn shard_of_token(token_hash: &str) -> u32 {
    token_hash.bytes().fold(0u32, |acc, b| acc.wrapping_mul(31).wrapping_add(u32::from(b))) % SHARDS
}

#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    /// `prefix` may use letters, digits, `_`, `-`, `.` and `:`; braces would
    /// break the hash tags.
    pub fn new(prefix: &str) -> Result<Self, String> {
        if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        {
            return Err(format!(
                "Redis key prefix {prefix:?} must be non-empty and use only letters, digits, '_', '-', '.' and ':'"
            ));
        }
        Ok(Self { prefix: prefix.to_owned() })
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn session(&self, id: Uuid, part: &str) -> String {
        format!("{}:{{a:{id}}}:{part}", self.prefix)
    }

    /// Hash: `json` (the session), `end_ms`, `deleted`, `teacher`, `version`,
    /// `unfinished` while it is being created, `code_secret` for a session
    /// asking for the check-in code, and `enrolled_only` ('1') for a course
    /// session only its enrolled students may check in to.
    pub fn meta(&self, id: Uuid) -> String {
        self.session(id, "meta")
    }

    /// Hash: student number → record JSON.
    pub fn records(&self, id: Uuid) -> String {
        self.session(id, "records")
    }

    /// Hash: `<student>:<request_id>` → the record JSON first answered.
    pub fn requests(&self, id: Uuid) -> String {
        self.session(id, "requests")
    }

    /// List: `<version>|<audit JSON>` for each teacher edit while live.
    pub fn audit(&self, id: Uuid) -> String {
        self.session(id, "audit")
    }

    /// Hash student number → full name: the students enrolled in a course
    /// session's course when it started (the check-in script's enrolment
    /// gate, and the roster's not-checked-in lines).
    pub fn roster(&self, id: Uuid) -> String {
        self.session(id, "roster")
    }

    /// Set: a course session's enrolled students as the first version of
    /// courses kept them (numbers only). Only sessions started before the
    /// roster hash have it: still honoured by the enrolment gate and the
    /// roster until they are archived, never written.
    pub fn legacy_enrolled(&self, id: Uuid) -> String {
        self.session(id, "enrolled")
    }

    /// String with a TTL: the rate limit on one student's check-ins to this
    /// session (in the session's slot, so the check-in script keeps it).
    pub fn attend_limit(&self, id: Uuid, student: &str) -> String {
        self.session(id, &format!("limit:{student}"))
    }

    /// Pub/sub channel of the session's changes: `<version>|<kind>|<payload>`.
    pub fn events(&self, id: Uuid) -> String {
        self.session(id, "events")
    }

    /// String: `<id>|<end ms>` of the teacher's one open session.
    pub fn teacher_claim(&self, teacher: &str) -> String {
        format!("{}:{{t:{teacher}}}:open", self.prefix)
    }

    /// Set: a teacher's sessions still in Redis (open or waiting to be archived).
    pub fn teacher_sessions(&self, teacher: &str) -> String {
        format!("{}:{{t:{teacher}}}:sessions", self.prefix)
    }

    /// Set with a TTL: the sessions still in Redis that this student may have
    /// a record in (written before the record, so it never misses one).
    pub fn student_sessions(&self, student: &str) -> String {
        format!("{}:{{s:{student}}}:live", self.prefix)
    }

    /// String with a TTL: the rate limit on sign-ins to one user name.
    pub fn login_limit_for_user(&self, username: &str) -> String {
        format!("{}:{{login:{username}}}:limit", self.prefix)
    }

    /// String with a TTL: the rate limit on sign-ins from one address bucket.
    pub fn login_limit_for_address(&self, bucket: &str) -> String {
        format!("{}:{{addr:{bucket}}}:limit", self.prefix)
    }

    fn index(&self, shard: u32, part: &str) -> String {
        debug_assert!(shard < SHARDS);
        format!("{}:{{idx:{shard}}}:{part}", self.prefix)
    }

    /// Sorted set: the shard's sessions still in Redis, scored by end time
    /// (ms). The sweeper reads the ended ones from here.
    pub fn ending(&self, shard: u32) -> String {
        self.index(shard, "ending")
    }

    /// Hash: attendance id → session JSON, for the shard's sessions open for
    /// check-in. Each attendance-service replica keeps a copy for search.
    pub fn open_sessions(&self, shard: u32) -> String {
        self.index(shard, "open")
    }

    /// Counter: bumped by every change to the shard's open sessions, so a
    /// replica reloads only the shards that changed.
    pub fn open_sessions_generation(&self, shard: u32) -> String {
        self.index(shard, "open_generation")
    }

    /// String with a TTL: token hash → signed-in user.
    pub fn token(&self, token_hash: &str) -> String {
        format!("{}:tok:{token_hash}", self.prefix)
    }

    /// Pub/sub channel: the hash of every token logged out, so each
    /// replica's sign-in cache forgets it at once. (A channel, not a key:
    /// its name's tag places nothing.)
    pub fn revoked_tokens(&self) -> String {
        format!("{}:{{idx}}:tokens_revoked", self.prefix)
    }

    /// Sorted set: token hash → when the sign-in ends (ms), per shard.
    pub fn logins(&self, shard: u32) -> String {
        self.index(shard, "logins")
    }

    /// Hash: token hash → the sign-in's JSON, kept until archived.
    pub fn login_info(&self, shard: u32) -> String {
        self.index(shard, "login_info")
    }

    /// The seeds' queue of face checks waiting for a result, per shard of
    /// the session the check belongs to.
    pub fn face_queue(&self, shard: u32) -> String {
        self.index(shard, "user_waiting_for_face_verification")
    }

    /// Lease held by the sweeper replica running a job.
    pub fn job_lease(&self, job: &str) -> String {
        format!("{}:{{lease:{job}}}", self.prefix)
    }

    /// The indexes of the layout before sharding (one `{idx}` tag), read
    /// once by the sweeper to move what an upgrade left there.
    pub fn legacy_index(&self, part: &str) -> String {
        format!("{}:{{idx}}:{part}", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn session_keys_share_one_hash_tag() {
        let keys = Keys::new("attn").unwrap();
        let id = Uuid::nil();
        let tag = format!("{{a:{id}}}");
        for key in [
            keys.meta(id),
            keys.records(id),
            keys.requests(id),
            keys.audit(id),
            keys.attend_limit(id, "s1"),
            keys.roster(id),
            keys.legacy_enrolled(id),
        ] {
            assert!(key.starts_with("attn:"));
            assert!(key.contains(&tag), "{key}");
        }
    }

    #[test]
    fn a_shards_indexes_share_its_tag_and_shards_differ() {
        let keys = Keys::new("t1").unwrap();
        for shard in 0..SHARDS {
            let tag = format!("t1:{{idx:{shard}}}:");
            for key in [
                keys.ending(shard),
                keys.open_sessions(shard),
                keys.open_sessions_generation(shard),
                keys.logins(shard),
                keys.login_info(shard),
                keys.face_queue(shard),
            ] {
                assert!(key.starts_with(&tag), "{key}");
            }
        }
    }

    #[test]
    fn a_teachers_keys_share_their_tag() {
        let keys = Keys::new("t1").unwrap();
        assert_eq!(keys.teacher_claim("T1"), "t1:{t:T1}:open");
        assert_eq!(keys.teacher_sessions("T1"), "t1:{t:T1}:sessions");
    }

    #[test]
    fn sessions_and_sign_ins_spread_over_every_shard() {
        let sessions: HashSet<u32> = (0..2_000).map(|_| shard_of_session(Uuid::now_v7())).collect();
        assert_eq!(sessions.len(), SHARDS as usize);
        let tokens: HashSet<u32> =
            (0..2_000).map(|n| shard_of_token(&format!("{:064x}", u128::from(n as u32) * 7919))).collect();
        assert_eq!(tokens.len(), SHARDS as usize);
        assert!(sessions.iter().chain(&tokens).all(|shard| *shard < SHARDS));
    }

    #[test]
    fn braces_in_the_prefix_are_refused() {
        assert!(Keys::new("a{b}").is_err());
        assert!(Keys::new("").is_err());
        assert!(Keys::new("attn-test:42").is_ok());
    }
}

//! Every Redis key and channel ATTN uses, in one place.
//!
//! One attendance session's keys share the hash tag `{a:<id>}` so that the
//! scripts that change a session touch a single slot on Redis Cluster. The
//! indexes (what is live, what has ended, who is signed in) share `{idx}`.
//! Everything starts with a configurable prefix, so deployments and tests
//! can share one Redis.

use uuid::Uuid;

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

    /// Hash: `json` (the session), `end_ms`, `deleted`, `teacher`, `version`.
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

    /// String with a TTL: the rate limit on one student's check-ins to this
    /// session (in the session's slot, so the check-in script keeps it).
    pub fn attend_limit(&self, id: Uuid, student: &str) -> String {
        self.session(id, &format!("limit:{student}"))
    }

    /// String with a TTL: the rate limit on sign-ins to one user name.
    pub fn login_limit_for_user(&self, username: &str) -> String {
        format!("{}:{{login:{username}}}:limit", self.prefix)
    }

    /// String with a TTL: the rate limit on sign-ins from one address bucket.
    pub fn login_limit_for_address(&self, bucket: &str) -> String {
        format!("{}:{{addr:{bucket}}}:limit", self.prefix)
    }

    /// Pub/sub channel of the session's changes: `<version>|<kind>|<payload>`.
    pub fn events(&self, id: Uuid) -> String {
        self.session(id, "events")
    }

    fn index(&self, part: &str) -> String {
        format!("{}:{{idx}}:{part}", self.prefix)
    }

    /// Sorted set: every session still in Redis, scored by end time (ms).
    /// The sweeper reads the ended ones from here.
    pub fn ending(&self) -> String {
        self.index("ending")
    }

    /// Hash: attendance id → session JSON, for sessions open for check-in.
    pub fn active(&self) -> String {
        self.index("active")
    }

    /// Hash: teacher school number → the id of their open session.
    pub fn teacher_active(&self) -> String {
        self.index("teacher_active")
    }

    /// Set: a teacher's sessions still in Redis (open or waiting to be archived).
    pub fn teacher_sessions(&self, teacher: &str) -> String {
        self.index(&format!("teacher_sessions:{teacher}"))
    }

    /// String with a TTL: token hash → signed-in user.
    pub fn token(&self, token_hash: &str) -> String {
        format!("{}:tok:{token_hash}", self.prefix)
    }

    /// Pub/sub channel: the hash of every token logged out, so each
    /// replica's sign-in cache forgets it at once.
    pub fn revoked_tokens(&self) -> String {
        self.index("tokens_revoked")
    }

    /// Sorted set: token hash → when the sign-in ends (ms).
    pub fn logins(&self) -> String {
        self.index("logins")
    }

    /// Hash: token hash → the sign-in's JSON, kept until archived.
    pub fn login_info(&self) -> String {
        self.index("login_info")
    }

    /// The seeds' queue of face checks waiting for a result.
    pub fn face_queue(&self) -> String {
        self.index("user_waiting_for_face_verification")
    }

    /// Lease held by the sweeper replica running a job.
    pub fn job_lease(&self, job: &str) -> String {
        self.index(&format!("lease:{job}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_keys_share_one_hash_tag() {
        let keys = Keys::new("attn").unwrap();
        let id = Uuid::nil();
        let tag = format!("{{a:{id}}}");
        for key in [keys.meta(id), keys.records(id), keys.requests(id), keys.audit(id)] {
            assert!(key.starts_with("attn:"));
            assert!(key.contains(&tag), "{key}");
        }
    }

    #[test]
    fn index_keys_share_the_idx_tag() {
        let keys = Keys::new("t1").unwrap();
        for key in [keys.ending(), keys.active(), keys.teacher_active(), keys.logins(), keys.login_info()] {
            assert!(key.starts_with("t1:{idx}:"), "{key}");
        }
    }

    #[test]
    fn braces_in_the_prefix_are_refused() {
        assert!(Keys::new("a{b}").is_err());
        assert!(Keys::new("").is_err());
        assert!(Keys::new("attn-test:42").is_ok());
    }
}

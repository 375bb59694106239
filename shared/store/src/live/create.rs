//! Creating a session: its own keys first, then its teacher's claim, then
//! its listing, so that a crash at any step leaves nothing that lasts or
//! something the next look finishes.

use std::sync::LazyLock;

use attn_domain::{SessionMeta, check_in_code::CodeSecret};
use fred::{
    interfaces::{HashesInterface, KeysInterface},
    types::scripts::Script,
};
use uuid::Uuid;

use super::{LiveStore, flag, listing::Listing, reply, string_at};
use crate::{StoreError, StoreResult};

/// How long a new session's keys outlive its end if it is never claimed
/// (a crash between writing and claiming it).
const UNCLAIMED_SESSION_GRACE_MS: i64 = 7 * 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Claimed,
    /// The teacher already has this session open.
    TeacherHasOpenSession(Uuid),
}

/// Writes a new session's own keys, marked `unfinished` and with an expiry
/// until it is claimed and listed: a crash before the claim leaves nothing
/// that lasts.
///
/// KEYS: meta, enrolled. ARGV: session JSON, end (ms), deleted, teacher,
/// expiry (ms), check-in code secret (hex; '' = none), enrolled only ('1' or
/// '0'), then the enrolled students as number, full name pairs (a course
/// session's; none otherwise).
/// The secret is a field of its own, outside the JSON that indexes and
/// events copy; `enrolled_only` tells the check-in script to look the
/// student up in the enrolled set.
pub(super) static CREATE_META: LazyLock<Script> = LazyLock::new(|| {
    Script::from_lua(
        r#"
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'end_ms', ARGV[2], 'deleted', ARGV[3], 'teacher', ARGV[4], 'version', '0', 'unfinished', '1')
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'code_secret', ARGV[6]) end
if ARGV[7] == '1' then redis.call('HSET', KEYS[1], 'enrolled_only', '1') end
redis.call('PEXPIRE', KEYS[1], ARGV[5])
if #ARGV >= 8 then
  for i = 8, #ARGV, 1000 do
    redis.call('HSET', KEYS[2], unpack(ARGV, i, math.min(i + 999, #ARGV)))
  end
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
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
pub(super) static CLAIM_SESSION: LazyLock<Script> = LazyLock::new(|| {
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

impl LiveStore {
    /// Writes a new session, claims it as its teacher's open session, then
    /// lists it for search and the sweeper, unless the teacher already has an
    /// open one. The session's keys come first (marked unfinished, with an
    /// expiry lifted at the end), so a crash before the claim leaves nothing
    /// that lasts; a crash after it is finished by the next start of the
    /// same teacher or by the teacher's next look at their sessions
    /// ([`LiveStore::finish_creation`]). A claim with no session behind it is
    /// replaced.
    ///
    /// `code_secret`: the secret of the session's check-in code, written in
    /// the same script as the session. `enrolled`: a course session's
    /// enrolled students (number, full name), written in the same script as
    /// a hash under the
    /// session's tag, so the check-in script checks enrolment in the one
    /// round trip it makes anyway.
    pub async fn create_session(
        &self,
        meta: &SessionMeta,
        code_secret: Option<&CodeSecret>,
        enrolled: &[(String, String)],
        now_ms: i64,
    ) -> StoreResult<ClaimOutcome> {
        let id = meta.attendance_id;
        let json = meta.to_json();
        let meta_key = self.keys.meta(id);
        let enrolled_key = self.keys.roster(id);
        // Long past any end: only a crash between the steps leaves it set.
        let expiry_ms = (meta.end_ms - now_ms).max(0) + UNCLAIMED_SESSION_GRACE_MS;
        let mut args = vec![
            json,
            meta.end_ms.to_string(),
            flag(meta.is_deleted).into(),
            meta.teacher_school_number.clone(),
            expiry_ms.to_string(),
            code_secret.map(CodeSecret::to_hex).unwrap_or_default(),
            flag(meta.enrolled_only()).into(),
        ];
        // Pairs from ARGV[8] on: chunks of 1,000 (even) keep them whole.
        args.extend(enrolled.iter().flat_map(|(number, name)| [number.clone(), name.clone()]));
        self.run(&CREATE_META, vec![meta_key.clone(), enrolled_key.clone()], args).await?;
        let teacher = &meta.teacher_school_number;
        let mut replace = String::new();
        loop {
            let (status, items) = reply(
                self.run(
                    &CLAIM_SESSION,
                    vec![self.keys.teacher_claim(teacher), self.keys.teacher_sessions(teacher)],
                    vec![id.to_string(), meta.end_ms.to_string(), now_ms.to_string(), replace.clone()],
                )
                .await?,
            )?;
            if status == "claimed" {
                self.finish_creation(meta).await?;
                return Ok(ClaimOutcome::Claimed);
            }
            let current = string_at(&items, 0)?;
            let current_id = Uuid::try_parse(&current).map_err(|err| StoreError::corrupt("a teacher's claim", err))?;
            if let Some(session) = self.session(current_id).await? {
                let _: i64 = self.pool.del(vec![&meta_key, &enrolled_key]).await?;
                if session.unfinished {
                    // Its creation stopped between claim and listing (or is
                    // running now on another replica: finishing twice is harmless).
                    self.finish_creation(&session.meta).await?;
                }
                return Ok(ClaimOutcome::TeacherHasOpenSession(current_id));
            }
            if replace == current {
                let _: i64 = self.pool.del(vec![&meta_key, &enrolled_key]).await?;
                return Ok(ClaimOutcome::TeacherHasOpenSession(current_id));
            }
            tracing::warn!(teacher = %teacher, phantom = %current_id, "replacing a claim with no session behind it");
            replace = current;
        }
    }

    /// The last steps of creating a claimed session: list it in its shard,
    /// then mark it finished and lift its expiry. Each step may be repeated.
    pub async fn finish_creation(&self, meta: &SessionMeta) -> StoreResult<()> {
        self.update_listing(Listing::Open(meta)).await?;
        let meta_key = self.keys.meta(meta.attendance_id);
        let pipeline = self.pool.next().pipeline();
        let _: () = pipeline.hdel(&meta_key, "unfinished").await?;
        let _: () = pipeline.persist(&meta_key).await?;
        // A course session's enrolled students live as long as the session.
        let _: () = pipeline.persist(self.keys.roster(meta.attendance_id)).await?;
        let _: (i64, bool, bool) = pipeline.all().await?;
        Ok(())
    }
}

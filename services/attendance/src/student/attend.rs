//! Check-in: the hot path.
//!
//! Round trips per check-in, after the auth layer's token check (none when
//! this replica has the sign-in cached, else one read):
//! - option 1: one Redis script (the session's settings come from this
//!   replica's copy of the open sessions, then its cache, so no read is
//!   needed);
//! - option 2: one call to verification-service, then the same script;
//! - option 3: the network call, one call to submit the face check and one
//!   queue write (see `face.rs`);
//! - every option-3 check-in adds one pipelined read (settings, existing
//!   record, earlier answer) so that duplicates are refused before the
//!   face check runs; so does a replica's first check-in to a session its
//!   copy of the open sessions does not hold yet (started on another
//!   replica since the last refresh) or that asks for the rotating code
//!   (whose secret only Redis holds). At the top of the hour a replica
//!   sees a thousand sessions' first check-ins, so the copy saves a
//!   thousand round trips.
//!
//! - a session asking for the rotating check-in code: the code is checked
//!   here against the cached settings (the secret comes with the read above,
//!   so no extra round trip), before any verification; a missing, wrong or
//!   stale one skips the other checks and writes a failed record
//!   (`CHECK_IN_CODE_INVALID`, retryable like `WIFI_FAILED`) through the
//!   same script, so it counts against the same limit.
//!
//! - a course session for enrolled students only: the check-in script
//!   checks the student is in the session's enrolled set (one SISMEMBER in
//!   the same script, so no round trip); the first check-in's pipelined
//!   read looks too, so a student not enrolled is refused before any slow
//!   check.
//!
//! The script re-checks everything atomically, so a concurrent check-in,
//! a finish or a teacher's edit can never be overwritten.

use std::net::IpAddr;

use attn_domain::{
    FailCode, Record, SessionMeta,
    check_in_code::{self, CodeSecret},
    selfie::check_selfie,
    validate,
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiError, ApiResult, Caller, Reason};
use attn_store::live::{AttendOutcome, request_key};
use uuid::Uuid;

use super::face;
use crate::{
    context::{CheckInSettings, Context},
    convert,
    limits::too_many_check_ins,
};

pub async fn attend(
    ctx: &Context,
    caller: &Caller,
    address: Option<IpAddr>,
    request: pb::AttendRequest,
) -> ApiResult<pb::AttendanceRecord> {
    let id = validate::attendance_id(&request.attendance_id)?;
    let request_id = validate::request_id(&request.request_id)?;
    let selfie = check_selfie(&request.selfie, ctx.selfie_max_bytes)?;
    let student = caller.school_number();
    ctx.limits.check_attend_here(student)?;
    let request_key = request_id.as_deref().map(|rid| request_key(student, rid));

    let known = ctx.check_in_settings.get(&id).or_else(|| {
        let settings = settings_from_copy(&*ctx.open_sessions.get(id)?)?;
        ctx.check_in_settings.insert(id, settings.clone());
        Some(settings)
    });
    let settings = match known {
        Some(settings) if !settings.security_option.checks_face() => settings,
        _ => {
            // First check-in here, or a face check worth refusing early.
            let Some(precheck) = ctx.live.precheck(id, student, request_key.as_deref()).await? else {
                return Err(not_live(ctx, id).await);
            };
            if let Some(answer) = precheck.replay {
                return Ok(convert::record(id, &answer));
            }
            refuse_closed(&precheck.meta, ctx.now_ms())?;
            if let Some(conflict) = precheck.record.as_ref().and_then(Record::attend_conflict) {
                return Err(conflict.into());
            }
            let settings = settings_of(&precheck.meta, precheck.code_secret.clone())?;
            if let Some(course) = &settings.enrolled_only
                && !precheck.enrolled
            {
                return Err(not_enrolled(course));
            }
            ctx.check_in_settings.insert(id, settings.clone());
            settings
        }
    };
    let name = caller.full_name();
    let code_refused =
        settings.check_in_code.as_ref().is_some_and(|code| !code.accepts(&request.check_in_code, ctx.now_ms()));
    let record = if code_refused {
        // Like a failed network check: a record the teacher sees and the
        // student may replace with the code shown now.
        Record::failed(student, name, FailCode::CheckInCodeInvalid)
    } else if settings.security_option.checks_network() {
        let verdict = ctx
            .verification
            .clone()
            .check_network(attn_proto::internal::v1::CheckNetworkRequest {
                networks: settings.networks.to_vec(),
                client_address: address.map(|a| a.to_string()).unwrap_or_default(),
            })
            .await
            .map_err(ApiError::from)?
            .into_inner();
        if !verdict.passed {
            // verification-service answers with a code's name; it is ours,
            // so the text is safe to read as a code here.
            let code = FailCode::of_system_reason(&verdict.reason).unwrap_or(FailCode::WifiFailed);
            Record::failed(student, name, code)
        } else if settings.security_option.checks_face() {
            let selfie = selfie.map(|_| request.selfie);
            match face::submit(ctx, caller, id, selfie, request_id.as_deref()).await? {
                face::Submission::Refused(code) => Record::failed(student, name, code),
                face::Submission::Queued(job_id) => Record::pending_face_check(student, name, &job_id),
            }
        } else {
            Record::attended(student, name, ctx.now_ms())
        }
    } else {
        Record::attended(student, name, ctx.now_ms())
    };

    match ctx.live.attend(id, &record, request_key.as_deref(), ctx.now_ms(), ctx.limits.attend_per_minute()).await? {
        AttendOutcome::Limited(wait) => {
            ctx.limits.count_check_in_refused();
            Err(too_many_check_ins(wait))
        }
        AttendOutcome::Written(record) => {
            crate::measures::check_in(&ctx.metrics, settings.security_option, &record);
            Ok(convert::record(id, &record))
        }
        AttendOutcome::Replayed(record) => Ok(convert::record(id, &record)),
        AttendOutcome::Conflict(existing) => Err(existing
            .attend_conflict()
            .map(ApiError::from)
            .unwrap_or_else(|| ApiError::new(Reason::Contended, "your record changed while checking in; try again"))),
        AttendOutcome::Ended => Err(ended()),
        AttendOutcome::NotEnrolled => Err(not_enrolled(settings.enrolled_only.as_deref().unwrap_or("its course"))),
        AttendOutcome::Deleted => Err(deleted()),
        AttendOutcome::NotFound => Err(not_live(ctx, id).await),
    }
}

/// A session's check-in settings from this replica's copy of the open
/// sessions, without a read; `None` when it asks for the rotating code,
/// whose secret only Redis holds.
fn settings_from_copy(meta: &SessionMeta) -> Option<CheckInSettings> {
    if meta.check_in_code_period_secs.is_some() {
        return None;
    }
    settings_of(meta, None).ok()
}

/// A session's check-in settings; fails when it asks for the rotating code
/// and `code_secret` is missing.
fn settings_of(meta: &SessionMeta, code_secret: Option<CodeSecret>) -> ApiResult<CheckInSettings> {
    let check_in_code = match (meta.check_in_code_period_secs, code_secret) {
        (Some(period_secs), Some(secret)) => Some(check_in_code::CheckInCode { secret, period_secs }),
        (None, _) => None,
        // Fail closed: a lost secret never opens a session that asks for a code.
        (Some(_), None) => {
            return Err(ApiError::internal(format!(
                "session {} asks for a check-in code but has no secret",
                meta.attendance_id
            )));
        }
    };
    Ok(CheckInSettings {
        security_option: meta.security_option,
        networks: meta.networks.iter().map(ToString::to_string).collect::<Vec<_>>().into(),
        check_in_code,
        enrolled_only: meta.enrolled_only().then(|| meta.course_code.as_deref().unwrap_or_default().into()),
    })
}

fn not_enrolled(course: &str) -> ApiError {
    ApiError::new(Reason::NotEnrolled, format!("not enrolled in {course}")).with("course_code", course)
}

fn ended() -> ApiError {
    ApiError::new(Reason::SessionEnded, "this attendance session has ended")
}

fn deleted() -> ApiError {
    ApiError::new(Reason::SessionDeleted, "this attendance session was deleted by its teacher")
}

fn refuse_closed(meta: &SessionMeta, now: i64) -> ApiResult<()> {
    if meta.is_deleted {
        return Err(deleted());
    }
    if !meta.is_active(now) {
        return Err(ended());
    }
    Ok(())
}

/// Not in Redis: archived (so it ended) or never existed.
async fn not_live(ctx: &Context, id: Uuid) -> ApiError {
    match ctx.archive.attendance(id).await {
        Ok(Some(_)) => ended(),
        Ok(None) => {
            ApiError::new(Reason::SessionNotFound, format!("no attendance session {id}")).with("attendance_id", id)
        }
        Err(err) => err.into(),
    }
}

#[cfg(test)]
mod tests {
    use attn_domain::SecurityOption;

    use super::*;

    fn meta() -> SessionMeta {
        SessionMeta {
            attendance_id: Uuid::now_v7(),
            lesson_name: "Algorithms".into(),
            teacher_school_number: "t1".into(),
            teacher_full_name: "Ada Teacher".into(),
            start_ms: 0,
            end_ms: 3_600_000,
            security_option: SecurityOption::Network,
            networks: vec!["10.0.0.0/8".parse().unwrap()],
            is_deleted: false,
            deletion_reason: None,
            deletion_time_ms: None,
            check_in_code_period_secs: None,
            course_code: Some("CS101".into()),
            allow_walk_ins: false,
            time_zone: None,
        }
    }

    #[test]
    fn the_copy_gives_the_option_the_networks_and_the_enrolment_rule() {
        let settings = settings_from_copy(&meta()).expect("no code asked for");
        assert_eq!(settings.security_option, SecurityOption::Network);
        assert_eq!(&*settings.networks, ["10.0.0.0/8".to_owned()]);
        assert_eq!(settings.enrolled_only.as_deref(), Some("CS101"));
        assert!(settings.check_in_code.is_none());
        let walk_ins = SessionMeta { allow_walk_ins: true, ..meta() };
        assert!(settings_from_copy(&walk_ins).unwrap().enrolled_only.is_none());
    }

    #[test]
    fn a_session_asking_for_the_code_is_never_taken_from_the_copy() {
        // Without its secret the code could not be checked: the check-in
        // must read the session instead of running without the code.
        let coded = SessionMeta { check_in_code_period_secs: Some(30), ..meta() };
        assert!(settings_from_copy(&coded).is_none());
        assert!(settings_of(&coded, None).is_err(), "and a lost secret fails closed");
    }
}

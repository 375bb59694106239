//! Starting, finishing, deleting and listing a teacher's sessions.

use std::net::IpAddr;

use attn_domain::{
    AuditEntry, Invalid, Invalids, SecurityOption, SessionMeta,
    audit::snapshot_of,
    check_in_code::{self, CodeSecret},
    course,
    network::{admits_family_of, classroom_network, family_name, parse_session_networks},
    paging::{self, Cursor},
    time_zone,
    validate::{self, SessionEnd},
};
use attn_proto::v1::{self as pb, start_attendance_request::Ends};
use attn_runtime::{ApiError, ApiResult, Caller, Reason};
use attn_store::{
    edit::{Attempt, edit_live_or_archived},
    live::{ClaimOutcome, LiveSession, WriteOutcome},
};
use chrono::{DateTime, Utc};
use ipnet::IpNet;
use uuid::Uuid;

use super::{archive_unless_live, no_such_course, no_such_session};
use crate::{context::Context, convert};

fn session_end(ends: Option<Ends>) -> SessionEnd {
    match ends {
        Some(Ends::EndTime(ts)) => {
            SessionEnd::At(DateTime::from_timestamp_millis(convert::millis(&ts)).unwrap_or(DateTime::<Utc>::MAX_UTC))
        }
        Some(Ends::Duration(d)) => SessionEnd::After(
            chrono::Duration::try_seconds(d.seconds)
                .and_then(|s| s.checked_add(&chrono::Duration::nanoseconds(i64::from(d.nanos))))
                .unwrap_or(chrono::Duration::MAX),
        ),
        None => SessionEnd::Unset,
    }
}

pub async fn start(
    ctx: &Context,
    caller: &Caller,
    teacher_address: Option<IpAddr>,
    request: pb::StartAttendanceRequest,
) -> ApiResult<pb::Attendance> {
    let now = ctx.clock.now();
    // Every field is checked, so the caller hears of all the bad ones at once.
    let mut bad = Invalids::new();
    let course_code = bad.check(optional_course(&request.course_code, request.allow_walk_ins));
    // A course session's lesson name may be empty: it is then the course's.
    let lesson_name = match course_code {
        Some(Some(_)) if request.lesson_name.trim().is_empty() => Some(None),
        _ => bad.check(validate::lesson_name(&request.lesson_name)).map(Some),
    };
    let security_option = bad.check(SecurityOption::from_number(request.security_option));
    let end = bad.check(validate::end_time(now, session_end(request.ends)));
    let check_in_code_period_secs = bad.check(code_period(request.require_check_in_code, request.check_in_code_period));
    let networks = bad.check(parse_session_networks(&request.networks));
    let time_zone = bad.check(time_zone::parse("time_zone", &request.time_zone));
    let (
        Some(course_code),
        Some(lesson_name),
        Some(security_option),
        Some(end),
        Some(check_in_code_period_secs),
        Some(mut networks),
        Some(time_zone),
    ) = (course_code, lesson_name, security_option, end, check_in_code_period_secs, networks, time_zone)
    else {
        return Err(bad.into());
    };
    // The course first: one the caller does not teach reads as no course at
    // all, whatever else the request says.
    let course = match &course_code {
        Some(code) => {
            Some(ctx.archive.taught_course(caller.school_number(), code).await?.ok_or_else(|| no_such_course(code))?)
        }
        None => None,
    };
    let lesson_name = match (lesson_name, &course) {
        (Some(name), _) => name,
        (None, Some(course)) => course.name.clone(),
        (None, None) => unreachable!("a lesson name is only optional with a course"),
    };
    if networks.is_empty() && security_option.checks_network() {
        let Some(address) = teacher_address else {
            return Err(ApiError::new(
                Reason::TeacherAddressUnknown,
                "networks: your own address is unknown, so the classroom network can't be derived from it; pass the classroom's networks",
            ));
        };
        networks.push(classroom_network(address));
    }
    if security_option.checks_network() {
        refuse_other_family(ctx, teacher_address, &networks).await?;
    }
    if security_option.checks_face() && !ctx.face_checks_available().await? {
        return Err(ApiError::new(
            Reason::FaceChecksOff,
            "security_option: 3 needs face checks, and this deployment has no face gateway configured (ATTN_FACE_GATEWAY_URL)",
        ));
    }
    let meta = SessionMeta {
        attendance_id: Uuid::now_v7(),
        lesson_name,
        teacher_school_number: caller.school_number().to_owned(),
        teacher_full_name: caller.full_name().to_owned(),
        start_ms: now.timestamp_millis(),
        end_ms: end.timestamp_millis(),
        security_option,
        networks,
        is_deleted: false,
        deletion_reason: None,
        deletion_time_ms: None,
        check_in_code_period_secs,
        allow_walk_ins: course.is_some() && request.allow_walk_ins,
        course_code,
        time_zone,
    };
    // 32 bytes from the thread's CSPRNG (ChaCha, seeded by the OS), as for tokens.
    let code_secret = check_in_code_period_secs.map(|_| CodeSecret::from_bytes(rand::random()));
    let enrolled = course.map(|course| course.students).unwrap_or_default();
    match ctx.live.create_session(&meta, code_secret.as_ref(), &enrolled, meta.start_ms).await? {
        ClaimOutcome::Claimed => {
            ctx.open_sessions.opened(meta.clone()).await;
            tracing::info!(attendance_id = %meta.attendance_id, option = security_option.number(), "session started");
            Ok(convert::attendance(&meta, meta.start_ms, false, Some(0)))
        }
        ClaimOutcome::TeacherHasOpenSession(open) => Err(ApiError::new(
            Reason::TeacherHasOpenSession,
            format!("you already have an active attendance session ({open}); finish it before starting another"),
        )
        .with("attendance_id", open)),
    }
}

/// The course a session is opened for, normalised; `None` for none.
/// `allow_walk_ins` only means something with a course.
fn optional_course(code: &str, allow_walk_ins: bool) -> Result<Option<String>, Invalid> {
    if code.trim().is_empty() {
        if allow_walk_ins {
            return Err(Invalid::new("allow_walk_ins", "is only used with course_code"));
        }
        return Ok(None);
    }
    course::course_code("course_code", code).map(Some)
}

/// The check-in code's period in seconds, if the teacher asked for a code.
fn code_period(required: bool, period: Option<prost_types::Duration>) -> Result<Option<u32>, Invalid> {
    match (required, period) {
        (false, None) => Ok(None),
        (false, Some(_)) => Err(Invalid::new("check_in_code_period", "is only used with require_check_in_code")),
        (true, period) => Ok(Some(check_in_code::period(period.map(|d| (d.seconds, d.nanos)))?)),
    }
}

/// Students connect the way their teacher in the same room does. A session
/// whose networks (with the campus networks) hold no address of the family
/// the teacher is connected over (IPv4 or IPv6) would fail every such
/// student with WIFI_FAILED; say so now instead.
async fn refuse_other_family(ctx: &Context, teacher: Option<IpAddr>, networks: &[IpNet]) -> ApiResult<()> {
    let Some(teacher) = teacher else {
        return Ok(());
    };
    if admits_family_of(networks, teacher) {
        return Ok(());
    }
    let campus = ctx.campus_networks().await?;
    if admits_family_of(&campus, teacher) {
        return Ok(());
    }
    let family = family_name(teacher);
    Err(ApiError::new(
        Reason::NetworkFamilyMismatch,
        format!(
            "networks: you are connected over {family} ({teacher}), but every network given is of the other family, \
         so students connecting over {family} as you are would all fail the network check; \
         add the classroom's {family} network"
        ),
    ))
}

pub async fn finish(ctx: &Context, caller: &Caller, attendance_id: &str) -> ApiResult<pb::Attendance> {
    let id = validate::attendance_id(attendance_id)?;
    change_session(ctx, caller, id, "finish_attendance", None, |meta, now| meta.finished(now)).await
}

pub async fn delete(ctx: &Context, caller: &Caller, attendance_id: &str, reason: &str) -> ApiResult<pb::Attendance> {
    let id = validate::attendance_id(attendance_id)?;
    let reason = validate::reason(reason)?;
    change_session(ctx, caller, id, "delete_attendance", Some(reason.clone()), |meta, now| {
        if meta.is_deleted { meta.clone() } else { meta.deleted(&reason, now) }
    })
    .await
}

/// Applies `change` to a session wherever it is: in Redis by compare-and-set
/// on its version, or in PostgreSQL under a row lock. Writes an audit entry
/// either way. No change, no write.
async fn change_session(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    action: &str,
    reason: Option<String>,
    change: impl Fn(&SessionMeta, i64) -> SessionMeta,
) -> ApiResult<pb::Attendance> {
    let audit = |old: &SessionMeta, new: &SessionMeta, now: i64| AuditEntry {
        actor: caller.school_number().to_owned(),
        action: action.to_owned(),
        student_number: None,
        old_value: Some(snapshot_of(old)),
        new_value: Some(snapshot_of(new)),
        reason: reason.clone(),
        at_ms: now,
    };
    let (change, audit) = (&change, &audit);
    edit_live_or_archived(
        || async move {
            let Some(session) = ctx.live.session(id).await? else {
                return Ok(Attempt::NotLive);
            };
            if !session.meta.is_owned_by(caller.school_number()) {
                return Err(no_such_session(id));
            }
            let now = ctx.now_ms();
            let new = change(&session.meta, now);
            if new == session.meta {
                return Ok(Attempt::Done(convert::attendance(&new, now, false, Some(session.record_count))));
            }
            Ok(match ctx.live.write_meta(session.version, &new, Some(&audit(&session.meta, &new, now))).await? {
                WriteOutcome::Written { .. } => {
                    ctx.live.close_in_index(&new).await?;
                    ctx.open_sessions.closed(id).await;
                    tracing::info!(attendance_id = %id, action, "session changed");
                    Attempt::Done(convert::attendance(&new, now, false, Some(session.record_count)))
                }
                WriteOutcome::Changed => Attempt::Changed,
                WriteOutcome::NotFound => Attempt::NotLive,
                WriteOutcome::NotOwner => return Err(no_such_session(id)),
            })
        },
        |_| archive_unless_live(ctx, id, "the session is changing too quickly to edit; try again"),
        || async move {
            // Archived: PostgreSQL is the record now.
            let Some(edit) = ctx.archive.begin_session_edit(id).await? else {
                return Err(no_such_session(id));
            };
            if !edit.meta.is_owned_by(caller.school_number()) {
                return Err(no_such_session(id));
            }
            let now = ctx.now_ms();
            let old = edit.meta.clone();
            let new = change(&old, now);
            if new != old {
                edit.commit(&new, &audit(&old, &new, now)).await?;
                tracing::info!(attendance_id = %id, action, "archived session changed");
            }
            Ok(convert::attendance(&new, now, true, None))
        },
    )
    .await
}

pub async fn live(ctx: &Context, caller: &Caller) -> ApiResult<Option<pb::Attendance>> {
    let now = ctx.now_ms();
    let Some(session) = ctx.live.teacher_open_session(caller.school_number(), now).await? else {
        return Ok(None);
    };
    finish_interrupted(ctx, std::slice::from_ref(&session)).await?;
    Ok(Some(convert::attendance(&session.meta, now, false, Some(session.record_count))))
}

/// Lists for search and the sweeper any of the teacher's sessions whose
/// creation a crash stopped after the claim (or that another replica is
/// creating right now: finishing twice is harmless).
async fn finish_interrupted(ctx: &Context, sessions: &[LiveSession]) -> ApiResult<()> {
    for session in sessions.iter().filter(|session| session.unfinished) {
        tracing::warn!(attendance_id = %session.meta.attendance_id, "finishing a session whose creation was interrupted");
        ctx.live.finish_creation(&session.meta).await?;
    }
    Ok(())
}

/// The teacher's sessions, newest first: those still in Redis merged with
/// the archive, one keyset page at a time.
pub async fn list(
    ctx: &Context,
    caller: &Caller,
    request: pb::ListAttendancesRequest,
) -> ApiResult<pb::ListAttendancesResponse> {
    let size = paging::page_size(request.page_size)?;
    let cursor = paging::decode_cursor(&request.page_token)?;
    let teacher = caller.school_number();
    let now = ctx.now_ms();

    let mut items: Vec<(pb::Attendance, Cursor)> = Vec::new();
    let live = ctx.live.teacher_sessions(teacher).await?;
    finish_interrupted(ctx, &live).await?;
    for session in &live {
        let meta = &session.meta;
        if paging::is_after(cursor, meta.start_ms, meta.attendance_id) {
            items.push((
                convert::attendance(meta, now, false, Some(session.record_count)),
                Cursor { time_ms: meta.start_ms, id: meta.attendance_id },
            ));
        }
    }
    let archived = ctx.archive.teacher_attendances(teacher, cursor, size).await?;
    let archive_full = archived.len() == size as usize;
    for row in archived {
        let meta = &row.meta;
        // Between the archive's commit and Redis's cleanup a session is in both.
        if live.iter().any(|s| s.meta.attendance_id == meta.attendance_id) {
            continue;
        }
        items.push((
            convert::attendance(meta, now, true, Some(u64::from(row.record_count))),
            Cursor { time_ms: meta.start_ms, id: meta.attendance_id },
        ));
    }
    items.sort_by_key(|item| std::cmp::Reverse(item.1));
    let more = items.len() > size as usize || archive_full;
    items.truncate(size as usize);
    let next_page_token = match items.last() {
        Some((_, last)) if more => paging::encode_cursor(*last),
        _ => String::new(),
    };
    Ok(pb::ListAttendancesResponse { attendances: items.into_iter().map(|(a, _)| a).collect(), next_page_token })
}

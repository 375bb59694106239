//! A session's records: listing them (with a course session's enrolled
//! students who have none), and the teacher's edits (accept, fail, excuse,
//! add, delete), on live and archived sessions alike.

use attn_domain::{AuditEntry, Record, audit::snapshot_of, validate};
use attn_proto::v1 as pb;
use attn_runtime::{ApiError, ApiResult, Caller, Reason};
use attn_store::{
    edit::{Attempt, edit_live_or_archived},
    live::WriteOutcome,
};
use uuid::Uuid;

use super::{archive_unless_live, no_such_session, roster};
use crate::{context::Context, convert};

pub async fn list(ctx: &Context, caller: &Caller, attendance_id: &str) -> ApiResult<pb::ListRecordsResponse> {
    let id = validate::attendance_id(attendance_id)?;
    let now = ctx.now_ms();
    let session = roster::read(ctx, caller, id).await?;
    Ok(pb::ListRecordsResponse { attendance: Some(session.attendance(now)), records: session.lines(now) })
}

fn no_record(student: &str) -> ApiError {
    ApiError::new(
        Reason::RecordNotFound,
        format!(
            "student {student} has no record in this session and is not enrolled in its course; use AddStudent to add one"
        ),
    )
}

/// A teacher's decision with a reason about one existing line (a record, or
/// an enrolled student's missing check-in): fail, excuse, delete.
async fn decide_with_reason(
    ctx: &Context,
    caller: &Caller,
    (attendance_id, student, reason): (&str, &str, &str),
    action: &str,
    decide: impl Fn(&Record, &str, i64) -> Record,
) -> ApiResult<pb::AttendanceRecord> {
    let id = validate::attendance_id(attendance_id)?;
    let student = validate::school_number("student_number", student)?;
    let reason = validate::reason(reason)?;
    edit_record(ctx, caller, id, &student, action, Some(&reason), |current, now| {
        current.map(|r| decide(r, &reason, now)).ok_or_else(|| no_record(&student))
    })
    .await
}

pub async fn accept(
    ctx: &Context,
    caller: &Caller,
    attendance_id: &str,
    student: &str,
) -> ApiResult<pb::AttendanceRecord> {
    let id = validate::attendance_id(attendance_id)?;
    let student = validate::school_number("student_number", student)?;
    edit_record(ctx, caller, id, &student, "accept_student", None, |current, now| {
        current.map(|r| r.accepted(now)).ok_or_else(|| no_record(&student))
    })
    .await
}

pub async fn fail(
    ctx: &Context,
    caller: &Caller,
    attendance_id: &str,
    student: &str,
    reason: &str,
) -> ApiResult<pb::AttendanceRecord> {
    decide_with_reason(ctx, caller, (attendance_id, student, reason), "fail_student", |r, reason, _| {
        r.failed_by_teacher(reason)
    })
    .await
}

pub async fn excuse(
    ctx: &Context,
    caller: &Caller,
    attendance_id: &str,
    student: &str,
    reason: &str,
) -> ApiResult<pb::AttendanceRecord> {
    decide_with_reason(ctx, caller, (attendance_id, student, reason), "excuse_student", |r, reason, _| {
        r.excused(reason)
    })
    .await
}

pub async fn add(ctx: &Context, caller: &Caller, request: pb::AddStudentRequest) -> ApiResult<pb::AttendanceRecord> {
    let id = validate::attendance_id(&request.attendance_id)?;
    let student = validate::school_number("student_number", &request.student_number)?;
    let full_name = validate::full_name("full_name", &request.full_name)?;
    let reason = if request.is_attended { None } else { Some(validate::reason(&request.reason)?) };
    edit_record(ctx, caller, id, &student, "add_student", reason.as_deref(), |_, now| {
        Ok(Record::added_by_teacher(
            &student,
            &full_name,
            request.is_attended,
            reason.as_deref().unwrap_or_default(),
            now,
        ))
    })
    .await
}

pub async fn delete(
    ctx: &Context,
    caller: &Caller,
    attendance_id: &str,
    student: &str,
    reason: &str,
) -> ApiResult<pb::AttendanceRecord> {
    decide_with_reason(ctx, caller, (attendance_id, student, reason), "delete_record", |r, reason, now| {
        r.deleted(reason, now)
    })
    .await
}

/// Applies a teacher's edit to one record wherever the session is: in
/// Redis by compare-and-set on the record (checking ownership in the same
/// script), or in PostgreSQL under a row lock. The audit entry is written
/// in the same step as the change. A course session's enrolled student
/// without a record is edited from a not-checked-in line (the audit shows
/// no record before).
async fn edit_record(
    ctx: &Context,
    caller: &Caller,
    id: Uuid,
    student: &str,
    action: &str,
    reason: Option<&str>,
    edit: impl Fn(Option<&Record>, i64) -> ApiResult<Record>,
) -> ApiResult<pb::AttendanceRecord> {
    let teacher = caller.school_number();
    let audit = |old: Option<&Record>, new: &Record, now: i64| AuditEntry {
        actor: teacher.to_owned(),
        action: action.to_owned(),
        student_number: Some(student.to_owned()),
        old_value: old.map(snapshot_of),
        new_value: Some(snapshot_of(new)),
        reason: reason.map(str::to_owned),
        at_ms: now,
    };
    let (edit, audit) = (&edit, &audit);
    edit_live_or_archived(
        || async move {
            let current = ctx.live.record(id, student).await?;
            let now = ctx.now_ms();
            let old = current.as_ref().map(|(record, _)| record);
            // Only without a record: one more read, for the enrolled name.
            let line = match old {
                Some(_) => None,
                None => ctx.live.enrolled_name(id, student).await?.map(|name| Record::not_checked_in(student, &name)),
            };
            let new = match edit(old.or(line.as_ref()), now) {
                Ok(new) => new,
                // Refused (e.g. no record): say so only to the session's owner,
                // and only if the session is live; otherwise the archive decides.
                Err(err) => {
                    return match ctx.live.session(id).await? {
                        None => Ok(Attempt::NotLive),
                        Some(session) if !session.meta.is_owned_by(teacher) => Err(no_such_session(id)),
                        Some(_) => Err(err),
                    };
                }
            };
            let raw = current.as_ref().map(|(_, raw)| raw.as_str());
            Ok(match ctx.live.write_record(id, raw, &new, Some(&audit(old, &new, now)), Some(teacher)).await? {
                WriteOutcome::Written { .. } => {
                    tracing::info!(attendance_id = %id, %student, action, "record changed");
                    Attempt::Done(convert::record(id, &new))
                }
                WriteOutcome::Changed => Attempt::Changed,
                WriteOutcome::NotOwner => return Err(no_such_session(id)),
                WriteOutcome::NotFound => Attempt::NotLive,
            })
        },
        |_| archive_unless_live(ctx, id, "the record is changing too quickly to edit; try again"),
        || async move {
            let Some(edit_tx) = ctx.archive.begin_record_edit(id, student).await? else {
                return Err(no_such_session(id));
            };
            if !edit_tx.meta.is_owned_by(teacher) {
                return Err(no_such_session(id));
            }
            let now = ctx.now_ms();
            let old = edit_tx.record.clone();
            let line = edit_tx.enrolled_name.as_deref().map(|name| Record::not_checked_in(student, name));
            let new = edit(old.as_ref().or(line.as_ref()), now)?;
            edit_tx.commit(&new, &audit(old.as_ref(), &new, now)).await?;
            tracing::info!(attendance_id = %id, %student, action, "archived record changed");
            Ok(convert::record(id, &new))
        },
    )
    .await
}

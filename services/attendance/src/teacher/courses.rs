//! ListCourses: the courses the caller teaches, as the roster import wrote
//! them; GetCourseReport: how each enrolled student attended one of them.

use std::sync::Arc;

use attn_domain::{
    Invalid, Invalids,
    course::{self, ReportOrder, ReportRow, report_row, sort_report},
    export::{COURSE_REGISTER_HEADER, COURSE_REPORT_HEADER, CsvChunks, course_report_row, csv_chunks, register_row},
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiError, ApiResult, Caller};
use attn_store::archive::CourseSummary;
use chrono::{DateTime, Utc};

use super::no_such_course;
use crate::{
    context::Context,
    convert,
    streams::{self, BoxStream, file_stream},
};

pub async fn list(ctx: &Context, caller: &Caller) -> ApiResult<pb::ListCoursesResponse> {
    let courses = ctx.archive.teacher_courses(caller.school_number()).await?;
    Ok(pb::ListCoursesResponse { courses: courses.into_iter().map(course_message).collect() })
}

fn course_message(course: CourseSummary) -> pb::Course {
    pb::Course {
        course_code: course.code,
        display_name: course.name,
        enrolled_count: u32::try_from(course.enrolled).unwrap_or(u32::MAX),
    }
}

/// A course's report, whichever form it is sent in.
struct Report {
    course: pb::Course,
    total_sessions: u32,
    warning_percent: u32,
    rows: Vec<ReportRow>,
}

/// A report request, checked: the caller's course, the range and the order.
struct Scope {
    course: CourseSummary,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    order: ReportOrder,
}

type Range<'a> = (Option<&'a prost_types::Timestamp>, Option<&'a prost_types::Timestamp>);

async fn scope(ctx: &Context, caller: &Caller, course_code: &str, range: Range<'_>, order: i32) -> ApiResult<Scope> {
    let mut bad = Invalids::new();
    let code = bad.check(course::course_code("course_code", course_code));
    let order = bad.check(report_order(order));
    let (from, to) = (range.0.map(convert::millis), range.1.map(convert::millis));
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        bad.push(Invalid::new("to", "must not be before from"));
    }
    let (Some(code), Some(order), true) = (code, order, bad.is_empty()) else {
        return Err(bad.into());
    };
    let course = ctx
        .archive
        .teacher_courses(caller.school_number())
        .await?
        .into_iter()
        .find(|course| course.code == code)
        .ok_or_else(|| no_such_course(&code))?;
    let at = |ms: Option<i64>| ms.and_then(attn_domain::record::millis_to_time);
    Ok(Scope { course, from: at(from), to: at(to), order })
}

async fn build_report(
    ctx: &Context,
    caller: &Caller,
    course_code: &str,
    range: Range<'_>,
    order: i32,
) -> ApiResult<Report> {
    let Scope { course, from, to, order } = scope(ctx, caller, course_code, range, order).await?;
    let counts = ctx.archive.course_counts(&course.code, from, to).await?;
    let warning_percent = ctx.warning_percent;
    let mut rows: Vec<_> = counts
        .students
        .into_iter()
        .map(|s| report_row(s.student_number, s.full_name, s.counts, warning_percent))
        .collect();
    sort_report(&mut rows, order);
    Ok(Report { course: course_message(course), total_sessions: counts.total_sessions, warning_percent, rows })
}

pub async fn report(
    ctx: &Context,
    caller: &Caller,
    request: pb::GetCourseReportRequest,
) -> ApiResult<pb::GetCourseReportResponse> {
    let range = (request.from.as_ref(), request.to.as_ref());
    let report = build_report(ctx, caller, &request.course_code, range, request.order).await?;
    Ok(pb::GetCourseReportResponse {
        course: Some(report.course),
        total_sessions: report.total_sessions,
        warning_percent: report.warning_percent,
        rows: report
            .rows
            .into_iter()
            .map(|row| pb::CourseReportRow {
                student_number: row.student_number,
                student_full_name: row.student_full_name,
                attended: row.attended,
                excused: row.excused,
                failed: row.failed,
                absent: row.absent,
                total_sessions: row.total_sessions,
                percent: row.percent,
                below_warning: row.below_warning,
            })
            .collect(),
    })
}

pub async fn export_report(
    ctx: &Arc<Context>,
    caller: &Caller,
    request: pb::ExportCourseReportRequest,
) -> ApiResult<BoxStream<pb::ExportCourseReportResponse>> {
    let range = (request.from.as_ref(), request.to.as_ref());
    if request.per_session {
        return export_register(ctx, caller, &request.course_code, range, request.order).await;
    }
    let report = build_report(ctx, caller, &request.course_code, range, request.order).await?;
    // One row per enrolled student: bounded by the course, like a roster.
    let chunks = csv_chunks(&COURSE_REPORT_HEADER, report.rows.iter().map(course_report_row));
    Ok(file_stream(chunks, |csv| pb::ExportCourseReportResponse { csv }))
}

/// The course register: a row per student per session, from a task that
/// writes each chunk as PostgreSQL's rows fill it and stops when the client
/// goes away. Checked (course, range) before the stream opens, so a bad
/// request is an error status rather than a broken file.
async fn export_register(
    ctx: &Arc<Context>,
    caller: &Caller,
    course_code: &str,
    range: Range<'_>,
    order: i32,
) -> ApiResult<BoxStream<pb::ExportCourseReportResponse>> {
    let Scope { course, from, to, .. } = scope(ctx, caller, course_code, range, order).await?;
    let archive = ctx.archive.clone();
    let span = tracing::info_span!("export course register", course_code = %course.code);
    streams::open(ctx, caller, "export_course_register", 4, span, move |outbox| async move {
        // One side reads rows, the other writes chunks; dropping the
        // receiver (the client went away) stops the read.
        let (lines, mut received) = tokio::sync::mpsc::channel(1024);
        let read = archive.course_register(&course.code, from, to, lines);
        let write = async {
            let mut csv = CsvChunks::new(&COURSE_REGISTER_HEADER);
            while let Some(line) = received.recv().await {
                csv.row(&register_row(&line)[..]);
                if let Some(chunk) = csv.full_chunk()
                    && !outbox.send(Ok(pb::ExportCourseReportResponse { csv: chunk })).await
                {
                    return None;
                }
            }
            Some(csv)
        };
        // The last chunk only after a clean read: a failed one ends the
        // stream with its error instead, never as a file that looks whole.
        match tokio::join!(read, write) {
            (Ok(()), Some(csv)) => {
                let _ = outbox.send(Ok(pb::ExportCourseReportResponse { csv: csv.finish() })).await;
            }
            (Err(err), Some(_)) => {
                let _ = outbox.send(Err(ApiError::from(err).into())).await;
            }
            (_, None) => {}
        }
    })
}

fn report_order(order: i32) -> Result<ReportOrder, Invalid> {
    match pb::CourseReportOrder::try_from(order) {
        Ok(pb::CourseReportOrder::Unspecified | pb::CourseReportOrder::StudentNumber) => Ok(ReportOrder::StudentNumber),
        Ok(pb::CourseReportOrder::PercentAscending) => Ok(ReportOrder::PercentAscending),
        Err(_) => Err(Invalid::new("order", format!("{order} is not a CourseReportOrder"))),
    }
}

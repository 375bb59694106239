//! ListCourses: the courses the caller teaches, as the roster import wrote
//! them; GetCourseReport: how each enrolled student attended one of them.

use attn_domain::{
    Invalid, Invalids,
    course::{self, ReportOrder, ReportRow, report_row, sort_report},
    export::{COURSE_REPORT_HEADER, course_report_row, csv_chunks},
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiResult, Caller};
use attn_store::archive::CourseSummary;

use super::no_such_course;
use crate::{
    context::Context,
    convert,
    streams::{BoxStream, file_stream},
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

async fn build_report(
    ctx: &Context,
    caller: &Caller,
    course_code: &str,
    range: (Option<&prost_types::Timestamp>, Option<&prost_types::Timestamp>),
    order: i32,
) -> ApiResult<Report> {
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
    let counts = ctx.archive.course_counts(&code, at(from), at(to)).await?;
    let warning_percent = ctx.warning_percent;
    let mut rows: Vec<_> = counts
        .students
        .into_iter()
        .map(|s| {
            report_row(s.student_number, s.full_name, s.attended, s.failed, counts.total_sessions, warning_percent)
        })
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
    ctx: &Context,
    caller: &Caller,
    request: pb::ExportCourseReportRequest,
) -> ApiResult<BoxStream<pb::ExportCourseReportResponse>> {
    let range = (request.from.as_ref(), request.to.as_ref());
    let report = build_report(ctx, caller, &request.course_code, range, request.order).await?;
    // One row per enrolled student: bounded by the course, like a roster.
    let chunks = csv_chunks(&COURSE_REPORT_HEADER, report.rows.iter().map(course_report_row));
    Ok(file_stream(chunks, |csv| pb::ExportCourseReportResponse { csv }))
}

fn report_order(order: i32) -> Result<ReportOrder, Invalid> {
    match pb::CourseReportOrder::try_from(order) {
        Ok(pb::CourseReportOrder::Unspecified | pb::CourseReportOrder::StudentNumber) => Ok(ReportOrder::StudentNumber),
        Ok(pb::CourseReportOrder::PercentAscending) => Ok(ReportOrder::PercentAscending),
        Err(_) => Err(Invalid::new("order", format!("{order} is not a CourseReportOrder"))),
    }
}

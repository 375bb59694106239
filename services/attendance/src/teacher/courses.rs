//! ListCourses: the courses the caller teaches, as the roster import wrote
//! them; GetCourseReport: how each enrolled student attended one of them.

use attn_domain::{
    Invalid, Invalids,
    course::{self, ReportOrder, report_row, sort_report},
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiResult, Caller};

use super::no_such_course;
use crate::{context::Context, convert};

pub async fn list(ctx: &Context, caller: &Caller) -> ApiResult<pb::ListCoursesResponse> {
    let courses = ctx.archive.teacher_courses(caller.school_number()).await?;
    Ok(pb::ListCoursesResponse {
        courses: courses
            .into_iter()
            .map(|course| pb::Course {
                course_code: course.code,
                display_name: course.name,
                enrolled_count: u32::try_from(course.enrolled).unwrap_or(u32::MAX),
            })
            .collect(),
    })
}

pub async fn report(
    ctx: &Context,
    caller: &Caller,
    request: pb::GetCourseReportRequest,
) -> ApiResult<pb::GetCourseReportResponse> {
    let mut bad = Invalids::new();
    let code = bad.check(course::course_code("course_code", &request.course_code));
    let order = bad.check(report_order(request.order));
    let from = request.from.as_ref().map(convert::millis);
    let to = request.to.as_ref().map(convert::millis);
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        bad.push(Invalid::new("to", "must not be before from"));
    }
    let (Some(code), Some(order)) = (code, order) else {
        return Err(bad.into());
    };
    if !bad.is_empty() {
        return Err(bad.into());
    }
    let course = ctx
        .archive
        .teacher_courses(caller.school_number())
        .await?
        .into_iter()
        .find(|course| course.code == code)
        .ok_or_else(|| no_such_course(&code))?;
    let at = |ms: Option<i64>| ms.and_then(attn_domain::record::millis_to_time);
    let counts = ctx.archive.course_counts(&code, at(from), at(to)).await?;
    let warning = ctx.warning_percent;
    let mut rows: Vec<_> = counts
        .students
        .into_iter()
        .map(|s| report_row(s.student_number, s.full_name, s.attended, s.failed, counts.total_sessions, warning))
        .collect();
    sort_report(&mut rows, order);
    Ok(pb::GetCourseReportResponse {
        course: Some(pb::Course {
            course_code: course.code,
            display_name: course.name,
            enrolled_count: u32::try_from(course.enrolled).unwrap_or(u32::MAX),
        }),
        total_sessions: counts.total_sessions,
        warning_percent: warning,
        rows: rows
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

fn report_order(order: i32) -> Result<ReportOrder, Invalid> {
    match pb::CourseReportOrder::try_from(order) {
        Ok(pb::CourseReportOrder::Unspecified | pb::CourseReportOrder::StudentNumber) => Ok(ReportOrder::StudentNumber),
        Ok(pb::CourseReportOrder::PercentAscending) => Ok(ReportOrder::PercentAscending),
        Err(_) => Err(Invalid::new("order", format!("{order} is not a CourseReportOrder"))),
    }
}

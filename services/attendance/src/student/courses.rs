//! GetMyCourseSummary: the caller's attendance per course, counted as the
//! teacher's course report counts it, with the sessions behind it.

use attn_domain::course::{SessionOutcome, report_row, session_outcome};
use attn_proto::v1 as pb;
use attn_runtime::{ApiResult, Caller};

use crate::{context::Context, convert};

pub async fn summary(ctx: &Context, caller: &Caller) -> ApiResult<pb::GetMyCourseSummaryResponse> {
    let rows = ctx.archive.student_course_sessions(caller.school_number()).await?;
    let warning_percent = ctx.warning_percent;
    // Rows come by course, newest session first: fold each run into a course.
    let mut courses: Vec<pb::MyCourse> = Vec::new();
    for row in rows {
        if courses.last().is_none_or(|course| course.course_code != row.course_code) {
            courses.push(pb::MyCourse {
                course_code: row.course_code.clone(),
                display_name: row.course_name.clone(),
                ..Default::default()
            });
        }
        let course = courses.last_mut().expect("pushed above");
        if let Some(session) = row.session {
            let outcome = match session_outcome(session.record) {
                SessionOutcome::Attended => pb::CourseSessionOutcome::Attended,
                SessionOutcome::Failed => pb::CourseSessionOutcome::Failed,
                SessionOutcome::Absent => pb::CourseSessionOutcome::Absent,
            };
            course.sessions.push(pb::MyCourseSession {
                attendance_id: session.attendance_id.to_string(),
                lesson_name: session.lesson_name,
                start_time: Some(convert::timestamp(session.start_time.timestamp_millis())),
                outcome: outcome as i32,
            });
        }
    }
    for course in &mut courses {
        let count = |outcome: pb::CourseSessionOutcome| {
            course.sessions.iter().filter(|session| session.outcome == outcome as i32).count() as u32
        };
        let (attended, failed) = (count(pb::CourseSessionOutcome::Attended), count(pb::CourseSessionOutcome::Failed));
        let total = course.sessions.len() as u32;
        let row = report_row(String::new(), String::new(), attended, failed, total, warning_percent);
        course.attended = row.attended;
        course.excused = row.excused;
        course.failed = row.failed;
        course.absent = row.absent;
        course.total_sessions = row.total_sessions;
        course.percent = row.percent;
        course.below_warning = row.below_warning;
    }
    Ok(pb::GetMyCourseSummaryResponse { courses, warning_percent })
}

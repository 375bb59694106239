//! GetMyCourseSummary: the caller's attendance per course, counted as the
//! teacher's course report counts it, with the sessions behind it.

use attn_domain::{
    course::{SessionCounts, SessionOutcome, report_row, session_outcome},
    time_zone,
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiResult, Caller};

use crate::{context::Context, convert};

pub async fn summary(ctx: &Context, caller: &Caller) -> ApiResult<pb::GetMyCourseSummaryResponse> {
    let rows = ctx.archive.student_course_sessions(caller.school_number()).await?;
    let warning_percent = ctx.warning_percent;
    // Rows come by course, newest session first: fold each run into a course.
    let mut courses: Vec<(pb::MyCourse, SessionCounts)> = Vec::new();
    for row in rows {
        if courses.last().is_none_or(|(course, _)| course.course_code != row.course_code) {
            let course = pb::MyCourse {
                course_code: row.course_code.clone(),
                display_name: row.course_name.clone(),
                ..Default::default()
            };
            courses.push((course, SessionCounts::default()));
        }
        let (course, counts) = courses.last_mut().expect("pushed above");
        if let Some(session) = row.session {
            let outcome = session_outcome(session.record);
            counts.count(outcome);
            let outcome = match outcome {
                SessionOutcome::Attended => pb::CourseSessionOutcome::Attended,
                SessionOutcome::Excused => pb::CourseSessionOutcome::Excused,
                SessionOutcome::Failed => pb::CourseSessionOutcome::Failed,
                SessionOutcome::Absent => pb::CourseSessionOutcome::Absent,
            };
            let zone = session.time_zone.as_deref();
            course.sessions.push(pb::MyCourseSession {
                attendance_id: session.attendance_id.to_string(),
                lesson_name: session.lesson_name,
                start_time: Some(convert::timestamp(session.start_time.timestamp_millis())),
                outcome: outcome as i32,
                local_date: time_zone::local_date(session.start_time, zone),
                time_zone: time_zone::name(zone).to_owned(),
            });
        }
    }
    let courses = courses.into_iter().map(|(course, counts)| with_counts(course, counts, warning_percent)).collect();
    Ok(pb::GetMyCourseSummaryResponse { courses, warning_percent })
}

/// The course's counts and percentage, as the teacher's report has them.
fn with_counts(course: pb::MyCourse, counts: SessionCounts, warning_percent: u32) -> pb::MyCourse {
    let row = report_row(String::new(), String::new(), counts, warning_percent);
    pb::MyCourse {
        attended: row.attended,
        excused: row.excused,
        failed: row.failed,
        absent: row.absent,
        total_sessions: row.total_sessions,
        percent: row.percent,
        below_warning: row.below_warning,
        ..course
    }
}

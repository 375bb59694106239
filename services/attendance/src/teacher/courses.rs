//! ListCourses: the courses the caller teaches, as the roster import wrote
//! them.

use attn_proto::v1 as pb;
use attn_runtime::{ApiResult, Caller};

use crate::context::Context;

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

//! Courses and enrolment: the roster import says who teaches and who is
//! enrolled in which course; a teacher lists their courses.

use attn_e2e::{TestEnv, bearer};
use attn_proto::v1::ListCoursesRequest;
use attn_runtime::Reason;

use crate::common::assert_reason;

/// Demo teacher 1 teaches CS101 (named) and MATH2; demo students 1 and 2
/// take CS101, 3 takes MATH2; 4 takes nothing.
const ROSTER: &str = "school_number,full_name,role,courses\n\
                      demo_teacher_1,Demo Teacher 1,teacher,cs101=Intro to Programming; Math2\n\
                      demo_student_1,Demo Student 1,student,CS101\n\
                      demo_student_2,Demo Student 2,student,cs101\n\
                      demo_student_3,Demo Student 3,student,MATH2\n\
                      demo_student_4,Demo Student 4,student,\n";

async fn import(env: &TestEnv, csv: &str) -> attendance_service::ImportSummary {
    let summary = attendance_service::import_roster(&env.archive, csv, false).await.unwrap();
    assert_eq!(summary.rejected, 0, "{summary:?}");
    summary
}

async fn courses(teacher: &mut attn_e2e::TeacherClient) -> Vec<(String, String, u32)> {
    let listed = teacher.list_courses(ListCoursesRequest {}).await.unwrap().into_inner();
    listed.courses.into_iter().map(|c| (c.course_code, c.display_name, c.enrolled_count)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teacher_lists_the_courses_the_roster_gave_them_with_enrolment_counts() {
    let env = TestEnv::start().await;
    let summary = import(&env, ROSTER).await;
    assert_eq!(summary.courses.courses_created, 2, "{summary:?}");
    assert_eq!(summary.courses.enrolments_added, 3, "{summary:?}");
    let clients = env.clients().await;

    let mut teacher = clients.demo_teacher(1).await;
    assert_eq!(
        courses(&mut teacher).await,
        vec![("CS101".into(), "Intro to Programming".into(), 2), ("MATH2".into(), "MATH2".into(), 1)]
    );
    let mut other = clients.demo_teacher(2).await;
    assert_eq!(courses(&mut other).await, vec![], "another teacher sees none of them");

    // A student asking is refused by role, whatever the course.
    let token = clients.login("demo_student_1", "password").await.unwrap();
    let mut as_student = clients.teacher(bearer(&token));
    let refused = as_student.list_courses(ListCoursesRequest {}).await;
    assert_reason(refused, Reason::WrongRole, "");
}

//! Courses and enrolment: the roster import says who teaches and who is
//! enrolled in which course; a teacher lists their courses and opens a
//! session for one; only its enrolled students may check in (unless the
//! teacher allows walk-ins), checked by the check-in script itself.

use attn_e2e::{TestEnv, bearer};
use attn_proto::v1::{self as pb, ListCoursesRequest, StartAttendanceRequest};
use attn_runtime::Reason;
use tonic::Code;

use crate::common::{
    assert_invalid, assert_reason, assert_status, attend, finish_and_archive, list_records, start_request,
};

/// Demo teacher 1 teaches CS101 (named) and MATH2; demo students 1 and 2
/// take CS101, 3 takes MATH2; 4 takes nothing.
pub(crate) const ROSTER: &str = "school_number,full_name,role,courses\n\
                      demo_teacher_1,Demo Teacher 1,teacher,cs101=Intro to Programming; Math2\n\
                      demo_student_1,Demo Student 1,student,CS101\n\
                      demo_student_2,Demo Student 2,student,cs101\n\
                      demo_student_3,Demo Student 3,student,MATH2\n\
                      demo_student_4,Demo Student 4,student,\n";

pub(crate) async fn import(env: &TestEnv, csv: &str) -> attendance_service::ImportSummary {
    let summary = attendance_service::import_roster(&env.archive, csv, false).await.unwrap();
    assert_eq!(summary.rejected, 0, "{summary:?}");
    summary
}

pub(crate) fn course_request(code: &str, lesson: &str) -> StartAttendanceRequest {
    StartAttendanceRequest { course_code: code.into(), ..start_request(lesson, 1, &[]) }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_courses_teacher_opens_a_session_for_it_named_after_the_course() {
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;

    // Not taught by the caller, or no such course: the same NOT_FOUND.
    let mut other = clients.demo_teacher(2).await;
    let not_taught = other.start_attendance(course_request("CS101", "")).await;
    let status = assert_reason(not_taught, Reason::SessionNotFound, "no course CS101");
    let unknown = other.start_attendance(course_request("NOPE1", "")).await;
    let unknown = assert_reason(unknown, Reason::SessionNotFound, "no course NOPE1");
    assert_eq!(
        status.message().replace("CS101", "X"),
        unknown.message().replace("NOPE1", "X"),
        "a course that exists reads as one that does not"
    );
    // Bad codes are bad input, checked with the other fields.
    let mut teacher = clients.demo_teacher(1).await;
    assert_invalid(teacher.start_attendance(course_request("CS 101", "")).await, "course_code");
    assert_invalid(teacher.start_attendance(course_request("", "")).await, "lesson_name");
    let walk_ins_alone = StartAttendanceRequest { allow_walk_ins: true, ..start_request("Algebra", 1, &[]) };
    assert_invalid(teacher.start_attendance(walk_ins_alone).await, "allow_walk_ins");

    // Odd case and spaces name the same course; the lesson is the course's name.
    let session = teacher.start_attendance(course_request("  cs101 ", " ")).await.unwrap().into_inner();
    let session = session.attendance.unwrap();
    assert_eq!(session.course_code, "CS101");
    assert_eq!(session.lesson_name, "Intro to Programming");
    assert!(!session.allow_walk_ins);
    let live = teacher.get_live_attendance(pb::GetLiveAttendanceRequest {}).await.unwrap().into_inner();
    assert_eq!(live.attendance.unwrap().course_code, "CS101");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_enrolled_students_check_in_to_a_course_session_and_it_is_archived_with_its_course() {
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = teacher.start_attendance(course_request("CS101", "Week 1")).await.unwrap().into_inner();
    let session = session.attendance.unwrap();
    assert_eq!(session.lesson_name, "Week 1", "a lesson name given is kept");
    let id = session.attendance_id;
    let roster = env.scan_keys(&format!("{}:{{a:{id}}}:roster", env.key_prefix)).await;
    assert_eq!(roster.len(), 1, "the enrolled students are kept with the live session");

    // The first check-in on this replica reads the session (and the
    // enrolment with it); later ones go straight to the check-in script.
    // A student not enrolled is refused either way.
    let mut outsider = clients.demo_student(3).await;
    let refused = attend(&mut outsider, &id, "r1").await;
    let status = assert_reason(refused, Reason::NotEnrolled, "not enrolled in CS101");
    assert_eq!(status.code(), Code::FailedPrecondition);
    let mut enrolled = clients.demo_student(1).await;
    assert!(attend(&mut enrolled, &id, "r1").await.unwrap().is_attended);
    let mut another_outsider = clients.demo_student(4).await;
    assert_reason(attend(&mut another_outsider, &id, "r1").await, Reason::NotEnrolled, "not enrolled in CS101");
    let again = attend(&mut outsider, &id, "r2").await;
    assert_reason(again, Reason::NotEnrolled, "not enrolled in CS101");
    let roster = list_records(&mut teacher, &id).await.records;
    let numbers: Vec<&str> = roster.iter().map(|r| r.student_number.as_str()).collect();
    assert_eq!(numbers, ["demo_student_1", "demo_student_2"], "a refused student leaves no record: {roster:?}");

    // The teacher may still add anyone.
    let added = teacher
        .add_student(pb::AddStudentRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_3".into(),
            full_name: "Demo Student 3".into(),
            is_attended: true,
            reason: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(added.record.unwrap().is_attended);

    finish_and_archive(&env, &teacher, &id).await;
    let listed = teacher.list_attendances(pb::ListAttendancesRequest::default()).await.unwrap().into_inner();
    let archived = listed.attendances.iter().find(|a| a.attendance_id == id).expect("the session is listed");
    assert_eq!(archived.state(), pb::AttendanceState::Archived);
    assert_eq!(archived.course_code, "CS101");
    assert!(!archived.allow_walk_ins);
    // Two records, and enrolled student 2's absence.
    assert_eq!(list_records(&mut teacher, &id).await.records.len(), 3);
    for part in ["meta", "roster"] {
        let left = env.scan_keys(&format!("{}:{{a:{id}}}:{part}", env.key_prefix)).await;
        assert!(left.is_empty(), "the roster goes with the session's other keys: {left:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_walk_ins_allowed_a_student_not_enrolled_checks_in_too() {
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let request = StartAttendanceRequest { allow_walk_ins: true, ..course_request("MATH2", "") };
    let session = teacher.start_attendance(request).await.unwrap().into_inner().attendance.unwrap();
    assert!(session.allow_walk_ins);
    assert_eq!(session.lesson_name, "MATH2", "a course without a name is called by its code");

    let mut walk_in = clients.demo_student(1).await;
    assert!(attend(&mut walk_in, &session.attendance_id, "r1").await.unwrap().is_attended);
    let mut enrolled = clients.demo_student(3).await;
    assert!(attend(&mut enrolled, &session.attendance_id, "r1").await.unwrap().is_attended);

    // A session without a course is as before: anyone, no course shown.
    let mut other = clients.demo_teacher(2).await;
    let plain = other.start_attendance(start_request("Statics", 1, &[])).await.unwrap().into_inner();
    let plain = plain.attendance.unwrap();
    assert_eq!(plain.course_code, "");
    assert!(!plain.allow_walk_ins);
    let mut anyone = clients.demo_student(4).await;
    assert!(attend(&mut anyone, &plain.attendance_id, "r1").await.unwrap().is_attended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_dropped_by_a_reimport_is_refused_by_the_next_session() {
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(2).await;
    let first = teacher.start_attendance(course_request("CS101", "")).await.unwrap().into_inner().attendance.unwrap();
    assert!(attend(&mut student, &first.attendance_id, "r1").await.unwrap().is_attended);
    teacher
        .finish_attendance(pb::FinishAttendanceRequest { attendance_id: first.attendance_id.clone() })
        .await
        .unwrap();

    let summary = import(&env, "school_number,full_name,role,courses\ndemo_student_2,Demo Student 2,student,\n").await;
    assert_eq!(summary.courses.enrolments_dropped, 1, "{summary:?}");
    assert_eq!(courses(&mut teacher).await[0], ("CS101".into(), "Intro to Programming".into(), 1));

    let second = teacher.start_attendance(course_request("CS101", "")).await.unwrap().into_inner().attendance.unwrap();
    let refused = attend(&mut student, &second.attendance_id, "r1").await;
    assert_status(refused, Code::FailedPrecondition, "not enrolled in CS101");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_whose_role_changes_keeps_no_courses_of_the_old_role() {
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    // Demo student 1 becomes a teacher of MATH2; demo teacher 1 a student of CS101.
    let summary = import(
        &env,
        "school_number,full_name,role,courses\n\
         demo_student_1,Demo Student 1,teacher,MATH2\n\
         demo_teacher_1,Demo Teacher 1,student,CS101\n",
    )
    .await;
    assert_eq!((summary.courses.enrolments_dropped, summary.courses.teachings_dropped), (1, 2), "{summary:?}");
    let taught = |courses: Vec<attn_store::archive::CourseSummary>| -> Vec<String> {
        courses.into_iter().map(|c| c.code).collect()
    };
    assert_eq!(taught(env.archive.teacher_courses("demo_student_1").await.unwrap()), ["MATH2"]);
    assert!(env.archive.teacher_courses("demo_teacher_1").await.unwrap().is_empty());
    let cs101 = env.archive.taught_course("demo_student_1", "MATH2").await.unwrap().expect("now taught");
    assert_eq!(cs101.students, [("demo_student_3".to_owned(), "Demo Student 3".to_owned())]);
    let sessions = env.archive.student_course_sessions("demo_student_1").await.unwrap();
    assert!(sessions.is_empty(), "no longer enrolled in CS101: {sessions:?}");
}

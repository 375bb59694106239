//! GetCourseReport: each enrolled student's attendance over a course's
//! archived sessions, with the students under the warning threshold flagged.

use attn_e2e::TestEnv;
use attn_proto::v1::{
    self as pb, CourseReportOrder, CourseSessionOutcome, ExportCourseReportRequest, FailStudentRequest,
    GetCourseReportRequest, GetMyCourseSummaryRequest,
};
use tonic::Code;

use crate::{
    common::{assert_invalid, assert_status, attend, finish_and_archive},
    courses::{ROSTER, course_request, import},
};

fn request(code: &str) -> GetCourseReportRequest {
    GetCourseReportRequest { course_code: code.into(), ..Default::default() }
}

/// (student, attended, failed, absent, percent, flagged) per row, in order.
type Row = (String, u32, u32, u32, Option<f64>, bool);

fn rows(report: &pb::GetCourseReportResponse) -> Vec<Row> {
    report
        .rows
        .iter()
        .map(|r| (r.student_number.clone(), r.attended, r.failed, r.absent, r.percent, r.below_warning))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_counts_archived_sessions_per_enrolled_student_and_flags_the_absent() {
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let (mut s1, mut s2) = (clients.demo_student(1).await, clients.demo_student(2).await);

    // Week 1: both check in; the teacher fails student 2.
    let first = teacher.start_attendance(course_request("CS101", "")).await.unwrap().into_inner().attendance.unwrap();
    attend(&mut s1, &first.attendance_id, "w1").await.unwrap();
    attend(&mut s2, &first.attendance_id, "w1").await.unwrap();
    teacher
        .fail_student(FailStudentRequest {
            attendance_id: first.attendance_id.clone(),
            student_number: "demo_student_2".into(),
            reason: "left after ten minutes".into(),
        })
        .await
        .unwrap();
    finish_and_archive(&env, &teacher, &first.attendance_id).await;
    // Week 2: only student 1.
    let second = teacher.start_attendance(course_request("CS101", "")).await.unwrap().into_inner().attendance.unwrap();
    attend(&mut s1, &second.attendance_id, "w2").await.unwrap();
    finish_and_archive(&env, &teacher, &second.attendance_id).await;
    // Week 3 is still open: not counted until archived.
    let third = teacher.start_attendance(course_request("CS101", "")).await.unwrap().into_inner().attendance.unwrap();
    attend(&mut s1, &third.attendance_id, "w3").await.unwrap();

    let report = teacher.get_course_report(request("cs101")).await.unwrap().into_inner();
    let course = report.course.clone().unwrap();
    assert_eq!((course.course_code.as_str(), course.enrolled_count), ("CS101", 2));
    assert_eq!((report.total_sessions, report.warning_percent), (2, 70));
    assert_eq!(
        rows(&report),
        vec![
            ("demo_student_1".into(), 2, 0, 0, Some(100.0), false),
            ("demo_student_2".into(), 0, 1, 1, Some(0.0), true),
        ]
    );
    assert_eq!(report.rows[1].student_full_name, "Demo Student 2");

    // Lowest first: the students to talk to.
    let by_percent = GetCourseReportRequest { order: CourseReportOrder::PercentAscending as i32, ..request("CS101") };
    let report = teacher.get_course_report(by_percent).await.unwrap().into_inner();
    assert_eq!(
        report.rows.iter().map(|r| r.student_number.as_str()).collect::<Vec<_>>(),
        ["demo_student_2", "demo_student_1"]
    );

    // Only the sessions that started in the range.
    let up_to_week_2 = GetCourseReportRequest { to: second.start_time, ..request("CS101") };
    let report = teacher.get_course_report(up_to_week_2).await.unwrap().into_inner();
    assert_eq!(report.total_sessions, 1);
    assert_eq!(rows(&report)[0], ("demo_student_1".into(), 1, 0, 0, Some(100.0), false));
    let from_week_2 = GetCourseReportRequest { from: second.start_time, ..request("CS101") };
    let report = teacher.get_course_report(from_week_2).await.unwrap().into_inner();
    assert_eq!(report.total_sessions, 1);
    assert_eq!(rows(&report)[1], ("demo_student_2".into(), 0, 0, 1, Some(0.0), true));

    // The same as a CSV file, lowest first.
    let export = ExportCourseReportRequest {
        course_code: "CS101".into(),
        order: CourseReportOrder::PercentAscending as i32,
        ..Default::default()
    };
    let mut stream = teacher.export_course_report(export).await.unwrap().into_inner();
    let mut csv = Vec::new();
    while let Some(chunk) = stream.message().await.unwrap() {
        csv.extend(chunk.csv);
    }
    assert_eq!(
        String::from_utf8(csv).unwrap(),
        "student_number,student_full_name,attended,excused,failed,absent,total_sessions,percent,below_warning\r\n\
         demo_student_2,Demo Student 2,0,0,1,1,2,0.0,yes\r\n\
         demo_student_1,Demo Student 1,2,0,0,0,2,100.0,no\r\n"
    );

    // Each student sees their own figures, and the sessions behind them.
    let mine = s2.get_my_course_summary(GetMyCourseSummaryRequest {}).await.unwrap().into_inner();
    assert_eq!(mine.warning_percent, 70);
    let [cs101] = &mine.courses[..] else { panic!("demo_student_2 takes CS101 only: {mine:?}") };
    assert_eq!(
        (cs101.course_code.as_str(), cs101.attended, cs101.failed, cs101.absent, cs101.total_sessions),
        ("CS101", 0, 1, 1, 2)
    );
    assert_eq!((cs101.percent, cs101.below_warning), (Some(0.0), true));
    let outcomes: Vec<(&str, CourseSessionOutcome)> =
        cs101.sessions.iter().map(|s| (s.attendance_id.as_str(), s.outcome())).collect();
    assert_eq!(
        outcomes,
        [
            (second.attendance_id.as_str(), CourseSessionOutcome::Absent),
            (first.attendance_id.as_str(), CourseSessionOutcome::Failed)
        ],
        "newest first; the open third session is not counted"
    );
    let mine = s1.get_my_course_summary(GetMyCourseSummaryRequest {}).await.unwrap().into_inner();
    assert_eq!(
        (mine.courses[0].attended, mine.courses[0].percent, mine.courses[0].below_warning),
        (2, Some(100.0), false)
    );
    let mut s3 = clients.demo_student(3).await;
    let mine = s3.get_my_course_summary(GetMyCourseSummaryRequest {}).await.unwrap().into_inner();
    assert_eq!(mine.courses.len(), 1);
    assert_eq!(
        (mine.courses[0].course_code.as_str(), mine.courses[0].total_sessions, mine.courses[0].percent),
        ("MATH2", 0, None)
    );
    let mut s4 = clients.demo_student(4).await;
    assert!(s4.get_my_course_summary(GetMyCourseSummaryRequest {}).await.unwrap().into_inner().courses.is_empty());

    // A course with no sessions yet: no percentages, nobody flagged.
    let report = teacher.get_course_report(request("MATH2")).await.unwrap().into_inner();
    assert_eq!((report.total_sessions, rows(&report)), (0, vec![("demo_student_3".into(), 0, 0, 0, None, false)]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_teacher_of_the_course_gets_its_report_and_the_request_is_checked() {
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut other = clients.demo_teacher(2).await;

    let refused = other.get_course_report(request("CS101")).await;
    let unknown = teacher.get_course_report(request("NOPE1")).await;
    assert_eq!(
        assert_status(refused, Code::NotFound, "you teach no course CS101").message().replace("CS101", "X"),
        assert_status(unknown, Code::NotFound, "you teach no course NOPE1").message().replace("NOPE1", "X"),
        "a course taught by someone else reads as one that does not exist"
    );
    assert_invalid(teacher.get_course_report(request("not a code!")).await, "course_code");
    let backwards = GetCourseReportRequest {
        from: Some(prost_types::Timestamp { seconds: 2_000_000_000, nanos: 0 }),
        to: Some(prost_types::Timestamp { seconds: 1_000_000_000, nanos: 0 }),
        ..request("CS101")
    };
    assert_invalid(teacher.get_course_report(backwards).await, "to");
    assert_invalid(teacher.get_course_report(GetCourseReportRequest { order: 9, ..request("CS101") }).await, "order");
    let export = ExportCourseReportRequest { course_code: "CS101".into(), ..Default::default() };
    assert_status(other.export_course_report(export).await, Code::NotFound, "you teach no course CS101");
}

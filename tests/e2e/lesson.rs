//! A whole lesson, as a teacher and fifty students live it.

use std::collections::HashMap;

use attn_e2e::TestEnv;
use attn_proto::v1::{
    self as pb, AcceptStudentRequest, AttendanceState, FailStudentRequest, FinishAttendanceRequest, GetMyRecordRequest,
    ListRecordsRequest, WatchRecordsRequest, watch_records_response::Event,
};
use futures::StreamExt;
use tonic::Code;

use crate::common::{STREAM_WAIT, assert_status, attend, start, status_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_lesson_fills_the_live_roster_and_the_teacher_sees_every_change() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Linear Algebra", 2, &["127.0.0.0/16"]).await.unwrap();
    assert_eq!(session.state(), AttendanceState::Open);
    assert_eq!(session.record_count, Some(0), "a new session is counted: empty");
    let id = session.attendance_id.clone();

    let mut roster_stream =
        teacher.watch_records(WatchRecordsRequest { attendance_id: id.clone() }).await.unwrap().into_inner();
    let first = roster_stream.next().await.unwrap().unwrap();
    let Some(Event::Snapshot(snapshot)) = first.event else {
        panic!("the stream starts with a snapshot, got {first:?}")
    };
    assert!(snapshot.records.is_empty());

    // Fifty students check in at once.
    let check_ins = (1..=50).map(|n| {
        let clients = clients.clone();
        let id = id.clone();
        async move {
            let mut student = clients.demo_student(n).await;
            attend(&mut student, &id, &format!("req-{n}")).await
        }
    });
    for record in futures::future::join_all(check_ins).await {
        let record = record.unwrap();
        assert_eq!(status_of(&record), pb::RecordStatus::Attended, "{record:?}");
    }

    // The teacher's stream saw every one of them, without asking again.
    let mut roster: HashMap<String, pb::AttendanceRecord> = HashMap::new();
    while roster.len() < 50 {
        let message = tokio::time::timeout(STREAM_WAIT, roster_stream.next())
            .await
            .expect("roster events keep coming")
            .unwrap()
            .unwrap();
        match message.event.unwrap() {
            Event::Record(record) => {
                roster.insert(record.student_number.clone(), record);
            }
            Event::Snapshot(snapshot) => {
                roster = snapshot.records.into_iter().map(|r| (r.student_number.clone(), r)).collect();
            }
            Event::Attendance(_) => {}
        }
    }
    assert!(roster.values().all(|r| r.is_attended));

    // The teacher fails one student and accepts another they had failed.
    let failed = teacher
        .fail_student(FailStudentRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_3".into(),
            reason: "left after ten minutes".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(status_of(&failed), pb::RecordStatus::Failed);
    teacher
        .fail_student(FailStudentRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_7".into(),
            reason: "phone left in the room".into(),
        })
        .await
        .unwrap();
    let accepted = teacher
        .accept_student(AcceptStudentRequest { attendance_id: id.clone(), student_number: "demo_student_7".into() })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(status_of(&accepted), pb::RecordStatus::Attended);

    // Those edits reach the stream too, in order.
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let message = tokio::time::timeout(STREAM_WAIT, roster_stream.next())
            .await
            .expect("edit events arrive")
            .unwrap()
            .unwrap();
        if let Some(Event::Record(record)) = message.event {
            seen.push((record.student_number, status_of_i32(record.status)));
        }
    }
    assert_eq!(
        seen,
        vec![
            ("demo_student_3".to_string(), pb::RecordStatus::Failed),
            ("demo_student_7".to_string(), pb::RecordStatus::Failed),
            ("demo_student_7".to_string(), pb::RecordStatus::Attended),
        ]
    );

    // The teacher finishes; the stream says so; late check-ins are refused.
    let finished = teacher
        .finish_attendance(FinishAttendanceRequest { attendance_id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .attendance
        .unwrap();
    assert_eq!(finished.state(), AttendanceState::Ended);
    let message = tokio::time::timeout(STREAM_WAIT, roster_stream.next())
        .await
        .expect("the finish reaches the stream")
        .unwrap()
        .unwrap();
    match message.event.unwrap() {
        Event::Attendance(attendance) => assert_eq!(attendance.state(), AttendanceState::Ended),
        other => panic!("expected the session's change, got {other:?}"),
    }
    let mut late = clients.demo_student(51).await;
    assert_status(attend(&mut late, &id, "late").await, Code::FailedPrecondition, "ended");

    // The roster as listed matches what the stream showed.
    let listed = teacher.list_records(ListRecordsRequest { attendance_id: id.clone() }).await.unwrap().into_inner();
    assert_eq!(listed.records.len(), 50);
    let three = listed.records.iter().find(|r| r.student_number == "demo_student_3").unwrap();
    assert_eq!(three.fail_reason, "left after ten minutes");
    assert!(!three.is_attended);

    // And the student sees the teacher's decision.
    let mut student_3 = clients.demo_student(3).await;
    let mine = student_3
        .get_my_record(GetMyRecordRequest { attendance_id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(mine.fail_reason, "left after ten minutes");
}

fn status_of_i32(status: i32) -> pb::RecordStatus {
    pb::RecordStatus::try_from(status).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_archiving_the_teacher_can_still_correct_the_roster_and_every_edit_is_audited() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Organic Chemistry", 1, &[]).await.unwrap();
    let id = session.attendance_id.clone();
    for n in 1..=3 {
        let mut student = clients.demo_student(n).await;
        attend(&mut student, &id, "first").await.unwrap();
    }
    crate::common::finish_and_archive(&env, &teacher, &id).await;

    // The teacher's list shows it archived; the student's history too.
    let listed =
        teacher.list_attendances(pb::ListAttendancesRequest::default()).await.unwrap().into_inner().attendances;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state(), AttendanceState::Archived);
    assert_eq!(listed[0].record_count, Some(3));
    let mut student_1 = clients.demo_student(1).await;
    let history =
        student_1.list_my_attendance(pb::ListMyAttendanceRequest::default()).await.unwrap().into_inner().entries;
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].attendance.as_ref().unwrap().state(), AttendanceState::Archived);
    assert_eq!(history[0].attendance.as_ref().unwrap().record_count, None, "a student's history is not counted");

    // Accept, fail, add and delete all work on the archived session.
    // Each edit answers with its own response message, each holding the record.
    macro_rules! record {
        ($answer:expr $(,)?) => {
            $answer.into_inner().record.unwrap()
        };
    }
    let failed = record!(
        teacher
            .fail_student(FailStudentRequest {
                attendance_id: id.clone(),
                student_number: "demo_student_1".into(),
                reason: "signed in for a friend".into(),
            })
            .await
            .unwrap(),
    );
    assert_eq!(status_of(&failed), pb::RecordStatus::Failed);
    let accepted = record!(
        teacher
            .accept_student(AcceptStudentRequest { attendance_id: id.clone(), student_number: "demo_student_1".into() })
            .await
            .unwrap(),
    );
    assert_eq!(status_of(&accepted), pb::RecordStatus::Attended);
    let added = record!(
        teacher
            .add_student(pb::AddStudentRequest {
                attendance_id: id.clone(),
                student_number: "late_visitor".into(),
                full_name: "Late Visitor".into(),
                is_attended: true,
                reason: String::new(),
            })
            .await
            .unwrap(),
    );
    assert!(added.is_attended);
    let deleted = record!(
        teacher
            .delete_record(pb::DeleteRecordRequest {
                attendance_id: id.clone(),
                student_number: "demo_student_2".into(),
                reason: "left the course".into(),
            })
            .await
            .unwrap(),
    );
    assert!(deleted.is_deleted && deleted.deletion_reason == "left the course" && deleted.deletion_time.is_some());

    let after = teacher.list_records(ListRecordsRequest { attendance_id: id.clone() }).await.unwrap().into_inner();
    assert_eq!(after.attendance.unwrap().state(), AttendanceState::Archived);
    assert_eq!(after.records.len(), 4);

    // The audit trail: who, what, the old and new values, in order.
    let trail: Vec<(String, String, Option<String>, bool, bool)> = sqlx::query_as(
        "SELECT actor, action, student_number, old_value IS NOT NULL, new_value IS NOT NULL \
         FROM audit_log WHERE attendance_id = $1::uuid ORDER BY at, audit_id",
    )
    .bind(&id)
    .fetch_all(env.archive.pool())
    .await
    .unwrap();
    let actions: Vec<(&str, &str, Option<&str>)> = trail
        .iter()
        .map(|(actor, action, student, _, _)| (actor.as_str(), action.as_str(), student.as_deref()))
        .collect();
    assert_eq!(
        actions,
        vec![
            ("demo_teacher_1", "finish_attendance", None),
            ("demo_teacher_1", "fail_student", Some("demo_student_1")),
            ("demo_teacher_1", "accept_student", Some("demo_student_1")),
            ("demo_teacher_1", "add_student", Some("late_visitor")),
            ("demo_teacher_1", "delete_record", Some("demo_student_2")),
        ]
    );
    assert!(trail[1..].iter().all(|(_, action, _, old, new)| *new && (*old || action == "add_student")));

    // Soft-deleting the whole session works on the archive too.
    let gone = teacher
        .delete_attendance(pb::DeleteAttendanceRequest {
            attendance_id: id.clone(),
            reason: "duplicate session".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .attendance
        .unwrap();
    assert!(gone.state() == AttendanceState::Deleted && gone.deletion_reason == "duplicate session");
}

//! A whole lesson, as a teacher and fifty students live it.

use std::collections::HashMap;

use attn_e2e::TestEnv;
use attn_proto::v1::{
    self as pb, AcceptStudentRequest, FailStudentRequest, FinishAttendanceRequest, GetMyRecordRequest,
    ListRecordsRequest, WatchRecordsRequest, watch_records_response::Event,
};
use futures::StreamExt;
use tonic::Code;

use crate::common::{STREAM_WAIT, assert_status, attend, start, status_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_lesson_fills_the_live_roster_and_ends_archived_in_the_teachers_list() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Linear Algebra", 2, &["127.0.0.0/8"]).await.unwrap();
    assert!(session.is_active);
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
    assert!(!finished.is_active);
    let message = tokio::time::timeout(STREAM_WAIT, roster_stream.next())
        .await
        .expect("the finish reaches the stream")
        .unwrap()
        .unwrap();
    match message.event.unwrap() {
        Event::Attendance(attendance) => assert!(!attendance.is_active),
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

//! ListAuditEvents: every change to a session and its records, read from
//! the live copy and the archive alike, each change once.

use attn_e2e::TestEnv;
use attn_proto::v1::{
    self as pb, AcceptStudentRequest, AddStudentRequest, AuditAction, DeleteRecordRequest, FailStudentRequest,
    FinishAttendanceRequest, ListAuditEventsRequest, audit_event::Change,
};
use tonic::Code;

use crate::common::{assert_invalid, assert_status, attend, finish_and_archive, start};

async fn trail(teacher: &mut attn_e2e::TeacherClient, id: &str) -> Vec<pb::AuditEvent> {
    teacher
        .list_audit_events(ListAuditEventsRequest { attendance_id: id.into() })
        .await
        .expect("the owner reads the session's audit trail")
        .into_inner()
        .events
}

fn actions(events: &[pb::AuditEvent]) -> Vec<AuditAction> {
    events.iter().map(|event| event.action()).collect()
}

fn record_change(event: &pb::AuditEvent) -> &pb::RecordChange {
    match &event.change {
        Some(Change::Record(change)) => change,
        other => panic!("expected a record change in {event:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trail_shows_every_edit_live_and_archived_once_each() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Audited Algebra", 1, &[]).await.unwrap();
    let id = session.attendance_id.clone();
    let mut student = clients.demo_student(1).await;
    attend(&mut student, &id, "r1").await.unwrap();
    assert!(trail(&mut teacher, &id).await.is_empty(), "a student's own check-in is not a teacher's edit");

    let (s1, s2) = ("demo_student_1".to_string(), "demo_student_2".to_string());
    teacher
        .fail_student(FailStudentRequest {
            attendance_id: id.clone(),
            student_number: s1.clone(),
            reason: "left at 10:05".into(),
        })
        .await
        .unwrap();
    teacher
        .accept_student(AcceptStudentRequest { attendance_id: id.clone(), student_number: s1.clone() })
        .await
        .unwrap();
    teacher
        .add_student(AddStudentRequest {
            attendance_id: id.clone(),
            student_number: s2.clone(),
            full_name: "Demo Student 2".into(),
            is_attended: true,
            reason: "phone battery died".into(),
        })
        .await
        .unwrap();
    teacher
        .delete_record(DeleteRecordRequest {
            attendance_id: id.clone(),
            student_number: s2.clone(),
            reason: "added by mistake".into(),
        })
        .await
        .unwrap();

    let live = trail(&mut teacher, &id).await;
    assert_eq!(
        actions(&live),
        [AuditAction::FailStudent, AuditAction::AcceptStudent, AuditAction::AddStudent, AuditAction::DeleteRecord],
        "{live:#?}"
    );
    for event in &live {
        assert_eq!(event.actor, "demo_teacher_1");
        assert!(event.time.is_some());
    }
    let failed = record_change(&live[0]);
    assert_eq!((live[0].student_number.as_str(), live[0].reason.as_str()), (s1.as_str(), "left at 10:05"));
    assert_eq!(failed.before.as_ref().unwrap().status(), pb::RecordStatus::Attended);
    let after = failed.after.as_ref().unwrap();
    assert_eq!((after.status(), after.fail_code()), (pb::RecordStatus::Failed, pb::FailCode::TeacherDecision));
    assert_eq!(record_change(&live[1]).after.as_ref().unwrap().status(), pb::RecordStatus::Attended);
    let added = record_change(&live[2]);
    assert!(added.before.is_none(), "demo_student_2 had no record before: {added:?}");
    assert!(record_change(&live[3]).after.as_ref().unwrap().is_deleted);

    // Finishing is an edit of the session itself, and the sweep moves the
    // trail into PostgreSQL without losing or repeating anything.
    finish_and_archive(&env, &teacher, &id).await;
    let archived = trail(&mut teacher, &id).await;
    assert_eq!(archived.len(), live.len() + 1, "{archived:#?}");
    assert_eq!(archived[..live.len()], live[..], "the live entries, unchanged, once each");
    let finished = &archived[live.len()];
    assert_eq!(finished.action(), AuditAction::FinishAttendance);
    assert!(finished.student_number.is_empty());
    match &finished.change {
        Some(Change::Attendance(change)) => {
            assert_eq!(change.before.as_ref().unwrap().state(), pb::AttendanceState::Open);
            assert_eq!(change.after.as_ref().unwrap().state(), pb::AttendanceState::Ended);
            assert_eq!(change.after.as_ref().unwrap().lesson_name, "Audited Algebra");
        }
        other => panic!("expected a session change, got {other:?}"),
    }

    // An edit of the archive joins the trail after them.
    teacher
        .fail_student(FailStudentRequest {
            attendance_id: id.clone(),
            student_number: s1.clone(),
            reason: "seen leaving".into(),
        })
        .await
        .unwrap();
    let edited = trail(&mut teacher, &id).await;
    assert_eq!(edited.len(), archived.len() + 1);
    assert_eq!(edited.last().unwrap().action(), AuditAction::FailStudent);
    assert_eq!(edited.last().unwrap().reason, "seen leaving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owner_reads_a_trail_and_the_id_is_checked() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut owner = clients.demo_teacher(1).await;
    let mut other = clients.demo_teacher(2).await;
    let id = start(&mut owner, "Private", 1, &[]).await.unwrap().attendance_id;
    owner.finish_attendance(FinishAttendanceRequest { attendance_id: id.clone() }).await.unwrap();
    assert_eq!(trail(&mut owner, &id).await.len(), 1);

    let refused = other.list_audit_events(ListAuditEventsRequest { attendance_id: id.clone() }).await;
    assert_status(refused, Code::NotFound, "you have no attendance session");
    let student_token = clients.login("demo_student_1", "password").await.unwrap();
    let as_student = clients
        .teacher(attn_e2e::bearer(&student_token))
        .list_audit_events(ListAuditEventsRequest { attendance_id: id.clone() })
        .await;
    assert_eq!(as_student.unwrap_err().code(), Code::PermissionDenied);
    assert_invalid(
        owner.list_audit_events(ListAuditEventsRequest { attendance_id: "not-a-uuid".into() }).await,
        "attendance_id",
    );
}

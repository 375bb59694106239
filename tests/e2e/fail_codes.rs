//! The contract's machine-readable parts: a record's `fail_code` (stored
//! with the record, never read from the text, kept through the archive), a
//! session's `state`, and `record_count` present only where it was counted.

use std::time::Duration;

use attn_e2e::{Standin, TestEnv};
use attn_proto::v1::{
    self as pb, AttendanceState, FailCode, FailStudentRequest, FindActiveAttendancesRequest, GetMyRecordRequest,
};

use crate::{
    common::{attend, finish_and_archive, list_records, start, status_of},
    face::{SELFIE, attend_with, face_env, roster, student},
};

fn by_student<'a>(records: &'a [pb::AttendanceRecord], number: &str) -> &'a pb::AttendanceRecord {
    records.iter().find(|r| r.student_number == number).unwrap_or_else(|| panic!("{number} in {records:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_teachers_words_that_look_like_a_code_are_a_teacher_decision_live_and_archived() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let id = session.attendance_id;
    let mut outside = clients.demo_student(1).await;
    let mut spoofer = clients.demo_student(2).await;

    let wifi = attend(&mut outside, &id, "r").await.unwrap();
    assert_eq!(wifi.fail_code(), FailCode::WifiFailed, "{wifi:?}");
    assert_eq!(wifi.fail_reason, "WIFI_FAILED");
    attend(&mut spoofer, &id, "r").await.unwrap();
    let failed = teacher
        .fail_student(FailStudentRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_2".into(),
            reason: "WIFI_FAILED: spoof".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(failed.fail_code(), FailCode::TeacherDecision, "{failed:?}");
    assert_eq!(failed.fail_reason, "WIFI_FAILED: spoof", "the teacher's words are kept as typed");
    // A teacher may even type the pending text: still failed, by the teacher.
    let added = teacher
        .add_student(pb::AddStudentRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_3".into(),
            full_name: "Demo Student 3".into(),
            is_attended: false,
            reason: "FACE_RECOGNITION_PENDING".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!((status_of(&added), added.fail_code()), (pb::RecordStatus::Failed, FailCode::TeacherDecision));

    let live = list_records(&mut teacher, &id).await.records;
    assert_eq!(by_student(&live, "demo_student_1").fail_code(), FailCode::WifiFailed);
    assert_eq!(by_student(&live, "demo_student_2").fail_code(), FailCode::TeacherDecision);

    finish_and_archive(&env, &teacher, &id).await;
    let archived = list_records(&mut teacher, &id).await.records;
    assert_eq!(by_student(&archived, "demo_student_1").fail_code(), FailCode::WifiFailed, "{archived:?}");
    assert_eq!(by_student(&archived, "demo_student_2").fail_code(), FailCode::TeacherDecision, "{archived:?}");
    assert_eq!(by_student(&archived, "demo_student_2").fail_reason, "WIFI_FAILED: spoof");
    assert_eq!(by_student(&archived, "demo_student_3").fail_code(), FailCode::TeacherDecision, "{archived:?}");
    assert_eq!(status_of(by_student(&archived, "demo_student_3")), pb::RecordStatus::Failed);
    let mine = spoofer
        .get_my_record(GetMyRecordRequest { attendance_id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(mine.fail_code(), FailCode::TeacherDecision);

    // An edit of the archive writes its code too, and a soft delete keeps it.
    let refailed = teacher
        .fail_student(FailStudentRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_1".into(),
            reason: "REFERENCE_IMAGE_NOT_FOUND".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(refailed.fail_code(), FailCode::TeacherDecision);
    teacher
        .delete_record(pb::DeleteRecordRequest {
            attendance_id: id.clone(),
            student_number: "demo_student_1".into(),
            reason: "duplicate".into(),
        })
        .await
        .unwrap();
    let after = list_records(&mut teacher, &id).await.records;
    let deleted = by_student(&after, "demo_student_1");
    assert_eq!((status_of(deleted), deleted.fail_code()), (pb::RecordStatus::Deleted, FailCode::TeacherDecision));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_face_failure_has_its_code_live_and_archived_and_pending_has_none() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    let env = face_env(&standin, |_| {}).await;
    let _sweeper = env.start_sweeper().await;
    roster(&env, &standin, &["s_mismatch_1"]).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let id = session.attendance_id;
    let mut mallory = student(&clients, "s_mismatch_1").await;
    let pending = attend_with(&mut mallory, &id, SELFIE).await.unwrap();
    assert_eq!(status_of(&pending), pb::RecordStatus::Pending);
    assert_eq!(pending.fail_code(), FailCode::Unspecified, "pending is a status, not a failure");
    let missing = attend_with(&mut clients.demo_student(1).await, &id, &[]).await.unwrap();
    assert_eq!(missing.fail_code(), FailCode::FaceVerificationRequiredButImagesMissing);

    let failed = attn_e2e::eventually(Duration::from_secs(30), "the gateway's verdict", || {
        let mut teacher = teacher.clone();
        let id = id.clone();
        async move {
            let records = list_records(&mut teacher, &id).await.records;
            let record = by_student(&records, "s_mismatch_1").clone();
            (status_of(&record) == pb::RecordStatus::Failed).then_some(record)
        }
    })
    .await;
    assert_eq!(failed.fail_code(), FailCode::FaceVerificationFailed, "{failed:?}");
    assert!(failed.fail_reason.starts_with("FACE_VERIFICATION_FAILED: "), "{failed:?}");

    finish_and_archive(&env, &teacher, &id).await;
    let archived = list_records(&mut teacher, &id).await.records;
    assert_eq!(by_student(&archived, "s_mismatch_1").fail_code(), FailCode::FaceVerificationFailed);
    assert_eq!(by_student(&archived, "demo_student_1").fail_code(), FailCode::FaceVerificationRequiredButImagesMissing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sessions_state_goes_open_ended_archived_and_deleted_wins_and_counts_are_only_where_counted() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student_1 = clients.demo_student(1).await;
    let session = start(&mut teacher, "Geology", 1, &[]).await.unwrap();
    let id = session.attendance_id.clone();
    assert_eq!((session.state(), session.record_count), (AttendanceState::Open, Some(0)));
    attend(&mut student_1, &id, "r").await.unwrap();

    let live = teacher.get_live_attendance(pb::GetLiveAttendanceRequest {}).await.unwrap().into_inner();
    let live = live.attendance.unwrap();
    assert_eq!((live.state(), live.record_count), (AttendanceState::Open, Some(1)));
    let found = student_1
        .find_active_attendances(FindActiveAttendancesRequest { lesson_name: "Geology".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .attendances;
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].state(), found[0].record_count),
        (AttendanceState::Open, None),
        "search results are not counted"
    );

    let finished = teacher
        .finish_attendance(pb::FinishAttendanceRequest { attendance_id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .attendance
        .unwrap();
    assert_eq!((finished.state(), finished.record_count), (AttendanceState::Ended, Some(1)));
    let listed = list_records(&mut teacher, &id).await.attendance.unwrap();
    assert_eq!((listed.state(), listed.record_count), (AttendanceState::Ended, Some(1)));

    finish_and_archive(&env, &teacher, &id).await;
    let listed = list_records(&mut teacher, &id).await.attendance.unwrap();
    assert_eq!((listed.state(), listed.record_count), (AttendanceState::Archived, Some(1)));

    let deleted = teacher
        .delete_attendance(pb::DeleteAttendanceRequest { attendance_id: id.clone(), reason: "wrong room".into() })
        .await
        .unwrap()
        .into_inner()
        .attendance
        .unwrap();
    assert_eq!((deleted.state(), deleted.record_count), (AttendanceState::Deleted, None), "not counted here");
    #[allow(deprecated)]
    {
        assert!(
            deleted.is_deleted && deleted.is_archived && !deleted.is_active,
            "the booleans still say it: {deleted:?}"
        );
    }
    let history = student_1.list_my_attendance(pb::ListMyAttendanceRequest::default()).await.unwrap().into_inner();
    let entry = history.entries[0].attendance.as_ref().unwrap();
    assert_eq!((entry.state(), entry.record_count), (AttendanceState::Deleted, None));

    // A session deleted while still live.
    let other = start(&mut teacher, "Geology II", 1, &[]).await.unwrap();
    let deleted_live = teacher
        .delete_attendance(pb::DeleteAttendanceRequest { attendance_id: other.attendance_id, reason: "test".into() })
        .await
        .unwrap()
        .into_inner()
        .attendance
        .unwrap();
    assert_eq!((deleted_live.state(), deleted_live.record_count), (AttendanceState::Deleted, Some(0)));
}

/// The backfill in migration 20261201000003, run over rows as they were
/// archived before codes were stored (no code; the audit log as it was).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rows_archived_before_codes_get_them_from_the_row_and_the_audit_log() {
    const MIGRATION: &str = include_str!("../../shared/store/migrations/20261201000003_record_fail_codes.sql");
    let backfill = &MIGRATION[MIGRATION.find("UPDATE attendance_records").expect("the backfill statement")..];

    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "History", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    for n in 1..=6 {
        attend(&mut clients.demo_student(n).await, &id, "r").await.unwrap();
    }
    finish_and_archive(&env, &teacher, &id).await;

    // (student, fail_reason, by_teacher, is_deleted, the teacher failed them
    // before (audit), the code expected)
    let rows = [
        ("demo_student_1", "WIFI_FAILED", false, false, false, FailCode::WifiFailed),
        ("demo_student_2", "WIFI_FAILED: spoof", true, false, false, FailCode::TeacherDecision),
        ("demo_student_3", "FACE_VERIFICATION_FAILED: no match", false, false, false, FailCode::FaceVerificationFailed),
        ("demo_student_4", "FACE_RECOGNITION_PENDING", true, true, false, FailCode::Unspecified),
        ("demo_student_5", "WIFI_FAILED", true, true, false, FailCode::WifiFailed),
        ("demo_student_6", "WIFI_FAILED", true, true, true, FailCode::TeacherDecision),
    ];
    let pool = env.archive.pool();
    for (student, reason, by_teacher, deleted, failed_before, _) in rows {
        sqlx::query(
            "UPDATE attendance_records SET is_attended = false, attendance_time = NULL, fail_code = NULL, \
             fail_reason = $3, by_teacher = $4, is_deleted = $5, \
             deletion_reason = CASE WHEN $5 THEN 'duplicate' END, deletion_time = CASE WHEN $5 THEN now() END \
             WHERE attendance_id = $1::uuid AND student_number = $2",
        )
        .bind(&id)
        .bind(student)
        .bind(reason)
        .bind(by_teacher)
        .bind(deleted)
        .execute(pool)
        .await
        .unwrap();
        if failed_before {
            sqlx::query(
                "INSERT INTO audit_log (attendance_id, student_number, actor, action, at) \
                 VALUES ($1::uuid, $2, 'demo_teacher_1', 'fail_student', now())",
            )
            .bind(&id)
            .bind(student)
            .execute(pool)
            .await
            .unwrap();
        }
    }
    sqlx::raw_sql(backfill).execute(pool).await.unwrap();

    let archived = list_records(&mut teacher, &id).await.records;
    for (student, reason, _, deleted, _, code) in rows {
        let record = by_student(&archived, student);
        assert_eq!((record.fail_code(), record.fail_reason.as_str()), (code, reason), "{record:?}");
        assert_eq!(record.is_deleted, deleted);
    }
}

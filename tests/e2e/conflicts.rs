//! State conflicts: one active session per teacher, one record per
//! student, replays, races, and check-ins that come too late.

use std::time::Duration;

use attn_domain::Record;
use attn_e2e::{TestEnv, eventually};
use attn_proto::v1::{
    self as pb, AcceptStudentRequest, AttendanceState, DeleteAttendanceRequest, FailStudentRequest,
    FinishAttendanceRequest, GetLiveAttendanceRequest, GetMyRecordRequest,
};
use attn_runtime::Reason;
use attn_store::live::WriteOutcome;
use tonic::Code;
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::common::{
    assert_reason, assert_status, attend, finish_and_archive, list_records, now_ms, start, start_request, status_of,
    student_forwarded_as,
};

#[tokio::test]
async fn a_teacher_cannot_start_a_second_session_until_the_first_is_finished() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let first = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let second = start(&mut teacher, "Chemistry", 1, &[]).await;
    let status = assert_reason(second, Reason::TeacherHasOpenSession, &first.attendance_id);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.metadata.get("attendance_id"), Some(&first.attendance_id), "{info:?}");

    // Another teacher is not affected.
    let mut colleague = clients.demo_teacher(2).await;
    start(&mut colleague, "Biology", 1, &[]).await.unwrap();

    teacher.finish_attendance(FinishAttendanceRequest { attendance_id: first.attendance_id.clone() }).await.unwrap();
    let next = start(&mut teacher, "Chemistry", 1, &[]).await.unwrap();
    assert_ne!(next.attendance_id, first.attendance_id);
    let live = teacher.get_live_attendance(GetLiveAttendanceRequest {}).await.unwrap().into_inner();
    assert_eq!(live.attendance.unwrap().attendance_id, next.attendance_id);
}

#[tokio::test]
async fn finishing_a_finished_session_again_keeps_its_first_end_time() {
    let env = TestEnv::start().await;
    let mut teacher = env.clients().await.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let finish = || FinishAttendanceRequest { attendance_id: session.attendance_id.clone() };
    let first = teacher.finish_attendance(finish()).await.unwrap().into_inner().attendance.unwrap();
    assert_eq!(first.state(), AttendanceState::Ended);
    let first_end = first.end_time.unwrap();
    eventually(Duration::from_secs(5), "the clock to move on", || async {
        (now_ms() > first_end.seconds * 1000 + 1000).then_some(())
    })
    .await;
    let again = teacher.finish_attendance(finish()).await.unwrap().into_inner().attendance.unwrap();
    assert_eq!(again.end_time, Some(first_end));
    assert_eq!(again.state(), AttendanceState::Ended);
}

#[tokio::test]
async fn concurrent_starts_by_one_teacher_open_exactly_one_session() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let teacher = clients.demo_teacher(1).await;
    let starts = (0..10).map(|n| {
        let mut teacher = teacher.clone();
        async move { teacher.start_attendance(start_request(&format!("Lesson {n}"), 1, &[])).await }
    });
    let results = futures::future::join_all(starts).await;
    let started = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(started, 1, "{results:?}");
    for result in results.iter().filter_map(|r| r.as_ref().err()) {
        assert_eq!(result.code(), Code::AlreadyExists, "{}", result.message());
    }
    // The refused starts leave no session keys behind.
    let metas = env.scan_keys(&format!("{}:{{a:*}}:meta", env.key_prefix)).await;
    assert_eq!(metas.len(), 1, "{metas:?}");
}

/// A crash between claiming "the teacher's open session" and writing the
/// session (or a failover that lost the session but kept the indexes) must
/// not lock the teacher out nor leave students a session that leads nowhere.
#[tokio::test]
async fn a_claim_with_no_session_behind_it_does_not_lock_the_teacher_out() {
    use fred::interfaces::{HashesInterface, KeysInterface, SetsInterface, SortedSetsInterface};

    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    // A claim and listings with no session behind them, as a failover that
    // lost the session's keys but not the others leaves them.
    let keys = env.live.keys().clone();
    let phantom = Uuid::now_v7();
    let shard = attn_store::keys::shard_of_session(phantom);
    let end_ms = now_ms() + 30 * 60_000;
    let pool = env.live.pool();
    let _: () =
        pool.set(keys.teacher_claim("demo_teacher_1"), format!("{phantom}|{end_ms}"), None, None, false).await.unwrap();
    let _: () =
        pool.zadd(keys.ending(shard), None, None, false, false, (end_ms as f64, phantom.to_string())).await.unwrap();
    let _: () = pool.hset(keys.open_sessions(shard), (phantom.to_string(), "{}")).await.unwrap();
    let _: () = pool.sadd(keys.teacher_sessions("demo_teacher_1"), phantom.to_string()).await.unwrap();

    let session = start(&mut teacher, "Physics", 1, &[]).await.expect("the phantom claim is replaced");
    let live = teacher.get_live_attendance(GetLiveAttendanceRequest {}).await.unwrap().into_inner();
    assert_eq!(live.attendance.unwrap().attendance_id, session.attendance_id);
    // The phantom is gone from the teacher's keys, and the real session
    // stays (no expiry). Its shard entries go at the sweep (an orphan).
    let mine: bool = pool.sismember(keys.teacher_sessions("demo_teacher_1"), phantom.to_string()).await.unwrap();
    assert!(!mine, "phantom still among the teacher's sessions");
    let id = Uuid::parse_str(&session.attendance_id).unwrap();
    let ttl: i64 = pool.pttl(keys.meta(id)).await.unwrap();
    assert_eq!(ttl, -1, "a claimed session never expires by itself");
    // And a real open session still refuses a second start.
    assert_status(start(&mut teacher, "Chemistry", 1, &[]).await, Code::AlreadyExists, &session.attendance_id);
}

#[tokio::test]
async fn attending_twice_is_already_exists() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let mut student = clients.demo_student(1).await;
    let first = attend(&mut student, &session.attendance_id, "first").await.unwrap();
    let status = assert_reason(
        attend(&mut student, &session.attendance_id, "second").await,
        Reason::AlreadyCheckedIn,
        "already attended",
    );
    assert!(status.get_details_retry_info().is_none(), "{status:?}");
    // Without a request id too.
    assert_reason(attend(&mut student, &session.attendance_id, "").await, Reason::AlreadyCheckedIn, "already attended");
    let records = list_records(&mut teacher, &session.attendance_id).await.records;
    assert_eq!(records, vec![first]);
}

#[tokio::test]
async fn a_check_in_that_failed_the_network_check_may_be_retried() {
    let env = TestEnv::start_with(|opts| opts.attendance.trusted_proxies = "127.0.0.0/8".into()).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let id = session.attendance_id;

    // From the corridor: outside the classroom network.
    let mut in_the_corridor = student_forwarded_as(&clients, 1, "10.9.8.7").await;
    let failed = attend(&mut in_the_corridor, &id, "try-1").await.unwrap();
    assert_eq!(failed.fail_reason, "WIFI_FAILED");
    assert_eq!(status_of(&failed), pb::RecordStatus::Failed);

    // Walks in and tries again.
    let mut in_the_room = student_forwarded_as(&clients, 1, "10.9.9.7").await;
    let attended = attend(&mut in_the_room, &id, "try-2").await.unwrap();
    assert_eq!(status_of(&attended), pb::RecordStatus::Attended, "{attended:?}");
    assert_eq!(attended.fail_reason, "");
    let records = list_records(&mut teacher, &id).await.records;
    assert_eq!(records, vec![attended]);
    // Attended now: no more retries.
    assert_status(attend(&mut in_the_room, &id, "try-3").await, Code::AlreadyExists, "already attended");
}

#[tokio::test]
async fn the_same_request_id_twice_returns_the_first_answer_without_writing_again() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    let uuid = Uuid::parse_str(&id).unwrap();
    let mut student = clients.demo_student(1).await;
    let first = attend(&mut student, &id, "tap-1").await.unwrap();
    let (version, _) = env.live.record_with_version(uuid, "demo_student_1").await.unwrap().unwrap();

    // The phone lost the answer and sends the same request again, later.
    eventually(Duration::from_secs(5), "the clock to move on", || async {
        (now_ms() > first.attendance_time.as_ref().unwrap().seconds * 1000 + 1000).then_some(())
    })
    .await;
    let again = attend(&mut student, &id, "tap-1").await.unwrap();
    assert_eq!(again, first, "the first answer, not a new one");

    let (version_after, stored) = env.live.record_with_version(uuid, "demo_student_1").await.unwrap().unwrap();
    assert_eq!(version_after, version, "nothing was written");
    let first_time = first.attendance_time.unwrap();
    let first_ms = first_time.seconds * 1000 + i64::from(first_time.nanos) / 1_000_000;
    assert_eq!(stored.unwrap().attendance_time_ms, Some(first_ms), "the attendance time is the first check-in's");
}

#[tokio::test]
async fn a_replayed_request_id_returns_its_first_answer_even_after_a_failed_check() {
    let env = TestEnv::start_with(|opts| opts.attendance.trusted_proxies = "127.0.0.0/8".into()).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let id = session.attendance_id;
    let mut outside = student_forwarded_as(&clients, 1, "10.9.8.7").await;
    let failed = attend(&mut outside, &id, "tap-1").await.unwrap();
    assert_eq!(failed.fail_reason, "WIFI_FAILED");

    // The same request again, now from inside: still the first answer...
    let mut inside = student_forwarded_as(&clients, 1, "10.9.9.7").await;
    assert_eq!(attend(&mut inside, &id, "tap-1").await.unwrap(), failed);
    // ...while a new request is a real retry.
    let attended = attend(&mut inside, &id, "tap-2").await.unwrap();
    assert!(attended.is_attended);
}

#[tokio::test]
async fn request_ids_belong_to_one_student() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let mut alice = clients.demo_student(1).await;
    let mut bob = clients.demo_student(2).await;
    let hers = attend(&mut alice, &session.attendance_id, "same-id").await.unwrap();
    let his = attend(&mut bob, &session.attendance_id, "same-id").await.unwrap();
    assert_eq!(hers.student_number, "demo_student_1");
    assert_eq!(his.student_number, "demo_student_2");
    assert_eq!(list_records(&mut teacher, &session.attendance_id).await.records.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_check_ins_by_one_student_make_exactly_one_record() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    for (option, networks) in [(1, vec![]), (2, vec!["127.0.0.0/16"])] {
        let session = start(&mut teacher, "Physics", option, &networks).await.unwrap();
        let id = session.attendance_id.clone();
        let student = clients.demo_student(1).await;
        let taps = (0..20).map(|n| {
            let mut student = student.clone();
            let id = id.clone();
            async move { attend(&mut student, &id, &format!("tap-{n}")).await }
        });
        let results = futures::future::join_all(taps).await;
        let successes: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(successes.len(), 1, "option {option}: {results:?}");
        assert!(successes[0].is_attended);
        for status in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(status.code(), Code::AlreadyExists, "option {option}: {}", status.message());
        }
        let records = list_records(&mut teacher, &id).await.records;
        assert_eq!(records, vec![successes[0].clone()]);
        teacher.finish_attendance(FinishAttendanceRequest { attendance_id: id }).await.unwrap();
    }
}

#[tokio::test]
async fn attending_a_finished_session_is_failed_precondition() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    let mut early = clients.demo_student(1).await;
    attend(&mut early, &id, "r").await.unwrap();
    teacher.finish_attendance(FinishAttendanceRequest { attendance_id: id.clone() }).await.unwrap();
    let mut late = clients.demo_student(2).await;
    assert_reason(attend(&mut late, &id, "r").await, Reason::SessionEnded, "ended");
    // Already attended or not, the session has ended.
    assert_reason(attend(&mut early, &id, "r2").await, Reason::SessionEnded, "ended");
    assert_eq!(list_records(&mut teacher, &id).await.records.len(), 1);
}

#[tokio::test]
async fn attending_a_session_whose_end_time_has_passed_is_failed_precondition() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut request = start_request("Physics", 1, &[]);
    request.ends = Some(pb::start_attendance_request::Ends::Duration(prost_types::Duration { seconds: 1, nanos: 0 }));
    let session = teacher.start_attendance(request).await.unwrap().into_inner().attendance.unwrap();
    let end_ms = session.end_time.unwrap().seconds * 1000 + 1000;
    eventually(Duration::from_secs(10), "the session's end time to pass", || async {
        (now_ms() > end_ms).then_some(())
    })
    .await;
    let mut student = clients.demo_student(1).await;
    assert_status(attend(&mut student, &session.attendance_id, "r").await, Code::FailedPrecondition, "ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attending_an_archived_session_is_failed_precondition() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    let mut early = clients.demo_student(1).await;
    attend(&mut early, &id, "r").await.unwrap();
    finish_and_archive(&env, &teacher, &id).await;

    let mut late = clients.demo_student(2).await;
    assert_status(attend(&mut late, &id, "r").await, Code::FailedPrecondition, "ended");
    // A replay of an answer given while it was live is no longer possible either: it has ended.
    assert_status(attend(&mut early, &id, "r").await, Code::FailedPrecondition, "ended");
    assert_eq!(list_records(&mut teacher, &id).await.records.len(), 1);
}

#[tokio::test]
async fn attending_an_unknown_session_is_not_found() {
    let env = TestEnv::start().await;
    let mut student = env.clients().await.demo_student(1).await;
    let unknown = Uuid::now_v7().to_string();
    assert_status(attend(&mut student, &unknown, "r").await, Code::NotFound, &unknown);
}

#[tokio::test]
async fn a_student_the_teacher_failed_cannot_check_in_over_it() {
    let env = TestEnv::start_with(|opts| opts.attendance.trusted_proxies = "127.0.0.0/8".into()).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let id = session.attendance_id;

    // One attended, then the teacher failed them.
    let mut present = student_forwarded_as(&clients, 1, "10.9.9.7").await;
    attend(&mut present, &id, "r1").await.unwrap();
    // One failed the network check, then the teacher failed them too.
    let mut outside = student_forwarded_as(&clients, 2, "10.9.8.7").await;
    attend(&mut outside, &id, "r1").await.unwrap();
    for student in ["demo_student_1", "demo_student_2"] {
        teacher
            .fail_student(FailStudentRequest {
                attendance_id: id.clone(),
                student_number: student.into(),
                reason: "left early".into(),
            })
            .await
            .unwrap();
    }
    let mut inside_now = student_forwarded_as(&clients, 2, "10.9.9.8").await;
    for student in [&mut present, &mut inside_now] {
        assert_reason(attend(student, &id, "r2").await, Reason::FailedByTeacher, "ask them to accept you");
    }
    let records = list_records(&mut teacher, &id).await.records;
    assert!(records.iter().all(|r| r.fail_reason == "left early"), "{records:?}");

    // The teacher's word is final until the teacher changes it.
    teacher
        .accept_student(AcceptStudentRequest { attendance_id: id.clone(), student_number: "demo_student_2".into() })
        .await
        .unwrap();
    let mine = inside_now
        .get_my_record(GetMyRecordRequest { attendance_id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert!(mine.is_attended);
}

#[tokio::test]
async fn attending_while_a_face_check_is_pending_is_already_exists() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    // Face checks arrive with a later issue; arrange the pending record directly.
    let pending = Record::pending_face_check("demo_student_1", "Demo Student 1", "job-1");
    let outcome = env.live.write_record(Uuid::parse_str(&id).unwrap(), None, &pending, None, None).await.unwrap();
    assert!(matches!(outcome, WriteOutcome::Written { .. }), "{outcome:?}");

    let mut student = clients.demo_student(1).await;
    assert_reason(attend(&mut student, &id, "r").await, Reason::AlreadyPending, "pending");
    let mine = student
        .get_my_record(GetMyRecordRequest { attendance_id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .record
        .unwrap();
    assert_eq!(status_of(&mine), pb::RecordStatus::Pending);
}

#[tokio::test]
async fn attending_a_deleted_session_is_failed_precondition() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    let mut early = clients.demo_student(1).await;
    attend(&mut early, &id, "r").await.unwrap();
    let deleted = teacher
        .delete_attendance(DeleteAttendanceRequest { attendance_id: id.clone(), reason: "wrong room".into() })
        .await
        .unwrap()
        .into_inner()
        .attendance
        .unwrap();
    assert_eq!(deleted.state(), AttendanceState::Deleted);
    assert_eq!(deleted.deletion_reason, "wrong room");

    let mut late = clients.demo_student(2).await;
    assert_reason(attend(&mut late, &id, "r").await, Reason::SessionDeleted, "deleted");
    // Deleting frees the teacher to start again.
    start(&mut teacher, "Physics, right room", 1, &[]).await.unwrap();
}

/// A session ends at its end time by itself: with the services' clock moved
/// past it (not waited for), check-ins are refused and the sweeper archives
/// it with the records taken in time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_its_end_time_a_session_refuses_check_ins_and_is_archived() {
    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = start(&mut teacher, "Physics", 1, &[]).await.unwrap().attendance_id;
    let mut early = clients.demo_student(1).await;
    attend(&mut early, &id, "r").await.unwrap();
    assert_eq!(sweeper.sweep_attendances().await.count("sessions_archived"), 0, "not over yet");

    env.clock.advance(Duration::from_secs(31 * 60)); // the session was for 30 minutes
    let mut late = clients.demo_student(2).await;
    assert_reason(attend(&mut late, &id, "r").await, Reason::SessionEnded, "ended");
    let swept = sweeper.sweep_attendances().await;
    assert_eq!(swept.count("sessions_archived"), 1, "{swept:?}");
    let record = early.get_my_record(GetMyRecordRequest { attendance_id: id.clone() }).await.unwrap().into_inner();
    assert!(record.record.unwrap().is_attended, "kept in the archive");
    let records = list_records(&mut teacher, &id).await;
    assert_eq!(records.records.len(), 1);
    assert_eq!(records.attendance.unwrap().state(), AttendanceState::Archived);
}

//! Who may call what: tokens, roles, owners, and the limits on trying.

use std::time::Duration;

use attn_e2e::{Bearer, TestEnv, bearer, eventually};
use attn_proto::v1::{
    self as pb, AcceptStudentRequest, AddStudentRequest, AttendanceState, DeleteAttendanceRequest, DeleteRecordRequest,
    ExportSessionRecordsRequest, FailStudentRequest, FindActiveAttendancesRequest, FinishAttendanceRequest,
    GetLiveAttendanceRequest, GetMyRecordRequest, ListAttendancesRequest, ListAuditEventsRequest,
    ListMyAttendanceRequest, ListRecordsRequest, LogoutRequest, WatchRecordsRequest, WhoAmIRequest,
};
use attn_runtime::Reason;
use tonic::{Code, Status};
use tonic_types::StatusExt;
use uuid::Uuid;

use crate::common::{
    assert_reason, assert_status, attend, finish_and_archive, list_records, reason_of, start, start_request,
};

#[tokio::test]
async fn a_call_without_a_token_is_unauthenticated() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.teacher(Bearer::none());
    let mut student = clients.student(Bearer::none());
    let mut auth = clients.auth(Bearer::none());
    let needle = "sign in";
    assert_status(teacher.start_attendance(start_request("Physics", 1, &[])).await, Code::Unauthenticated, needle);
    assert_status(teacher.get_live_attendance(GetLiveAttendanceRequest {}).await, Code::Unauthenticated, needle);
    assert_status(attend(&mut student, &Uuid::now_v7().to_string(), "r").await, Code::Unauthenticated, needle);
    assert_status(auth.who_am_i(WhoAmIRequest {}).await, Code::Unauthenticated, needle);
    assert_status(auth.logout(LogoutRequest {}).await, Code::Unauthenticated, needle);
}

#[tokio::test]
async fn a_garbage_or_tampered_token_is_unauthenticated() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let real = clients.login("demo_teacher_1", "password").await.unwrap();
    let mut tampered = real.clone().into_bytes();
    tampered[0] = if tampered[0] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    for token in ["garbage", "Bearer", &tampered, &format!("{real}x")] {
        let mut teacher = clients.teacher(bearer(token));
        let result = teacher.get_live_attendance(GetLiveAttendanceRequest {}).await;
        let status = assert_reason(result, Reason::TokenInvalid, "invalid or has expired");
        assert!(status.get_details_retry_info().is_none(), "{status:?}");
        let info = status.get_details_error_info().unwrap();
        assert!(info.metadata.values().all(|v| !v.contains(token)), "the token is not echoed: {info:?}");
    }
    // Another scheme is not a bearer token.
    let mut basic = clients.teacher(Bearer::none().with("authorization", &format!("Basic {real}")));
    assert_reason(basic.get_live_attendance(GetLiveAttendanceRequest {}).await, Reason::Unauthenticated, "Bearer");
    // The real one still works.
    clients.teacher(bearer(&real)).get_live_attendance(GetLiveAttendanceRequest {}).await.unwrap();
}

#[tokio::test]
async fn a_student_calling_a_teacher_rpc_is_permission_denied() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let token = clients.login("demo_student_1", "password").await.unwrap();
    let mut as_teacher = clients.teacher(bearer(&token));
    let any_id = || Uuid::now_v7().to_string();
    let needle = "this call is for teachers";
    let status =
        assert_reason(as_teacher.start_attendance(start_request("Physics", 1, &[])).await, Reason::WrongRole, needle);
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.metadata.get("role").map(String::as_str), Some("student"), "{info:?}");
    assert_eq!(info.metadata.get("required_role").map(String::as_str), Some("teacher"), "{info:?}");
    assert_status(as_teacher.get_live_attendance(GetLiveAttendanceRequest {}).await, Code::PermissionDenied, needle);
    assert_status(as_teacher.list_attendances(ListAttendancesRequest::default()).await, Code::PermissionDenied, needle);
    assert_status(
        as_teacher.list_records(ListRecordsRequest { attendance_id: any_id() }).await,
        Code::PermissionDenied,
        needle,
    );
    assert_status(
        as_teacher.watch_records(WatchRecordsRequest { attendance_id: any_id() }).await,
        Code::PermissionDenied,
        needle,
    );
    assert_status(
        as_teacher
            .accept_student(AcceptStudentRequest { attendance_id: any_id(), student_number: "demo_student_1".into() })
            .await,
        Code::PermissionDenied,
        needle,
    );
}

#[tokio::test]
async fn a_teacher_calling_a_student_rpc_is_permission_denied() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let token = clients.login("demo_teacher_1", "password").await.unwrap();
    let mut as_student = clients.student(bearer(&token));
    let needle = "this call is for students";
    assert_status(attend(&mut as_student, &session.attendance_id, "r").await, Code::PermissionDenied, needle);
    assert_status(
        as_student
            .find_active_attendances(FindActiveAttendancesRequest {
                lesson_name: "Physics".into(),
                teacher_name: String::new(),
                ..Default::default()
            })
            .await,
        Code::PermissionDenied,
        needle,
    );
    assert_status(
        as_student.get_my_record(GetMyRecordRequest { attendance_id: session.attendance_id.clone() }).await,
        Code::PermissionDenied,
        needle,
    );
    assert_status(
        as_student.list_my_attendance(ListMyAttendanceRequest::default()).await,
        Code::PermissionDenied,
        needle,
    );
    // The refused check-in wrote nothing.
    assert!(list_records(&mut teacher, &session.attendance_id).await.records.is_empty());
}

#[tokio::test]
async fn an_operator_is_neither_a_teacher_nor_a_student() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let token = clients.login("demo_admin", "password").await.unwrap();
    let result = clients.teacher(bearer(&token)).get_live_attendance(GetLiveAttendanceRequest {}).await;
    assert_status(result, Code::PermissionDenied, "this call is for teachers");
    let result = clients.student(bearer(&token)).list_my_attendance(ListMyAttendanceRequest::default()).await;
    assert_status(result, Code::PermissionDenied, "this call is for students");
}

/// The NOT_FOUND message with the session id taken out, to compare answers
/// for different ids.
fn without_id(status: &Status, id: &str) -> String {
    status.message().replace(id, "<id>")
}

#[tokio::test]
async fn another_teachers_session_reads_as_not_found_and_is_left_untouched() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher_a = clients.demo_teacher(1).await;
    let mut teacher_b = clients.demo_teacher(2).await;
    let session = start(&mut teacher_a, "Secret Seminar", 1, &[]).await.unwrap();
    let id = session.attendance_id.clone();
    let mut student = clients.demo_student(1).await;
    attend(&mut student, &id, "r1").await.unwrap();
    let before = list_records(&mut teacher_a, &id).await;

    // What B is told about a session that does not exist at all...
    let unknown = Uuid::now_v7().to_string();
    let nothing = teacher_b.list_records(ListRecordsRequest { attendance_id: unknown.clone() }).await.unwrap_err();
    assert_eq!(nothing.code(), Code::NotFound);
    let expected = without_id(&nothing, &unknown);

    // ...is exactly what B is told about A's, whatever B tries.
    let req = |student: &str| (id.clone(), student.to_string());
    let mut answers: Vec<(&str, Status)> = Vec::new();
    answers.push((
        "ListRecords",
        teacher_b.list_records(ListRecordsRequest { attendance_id: id.clone() }).await.unwrap_err(),
    ));
    answers.push((
        "WatchRecords",
        teacher_b.watch_records(WatchRecordsRequest { attendance_id: id.clone() }).await.unwrap_err(),
    ));
    answers.push((
        "FinishAttendance",
        teacher_b.finish_attendance(FinishAttendanceRequest { attendance_id: id.clone() }).await.unwrap_err(),
    ));
    for who in ["demo_student_1", "demo_student_2"] {
        let (attendance_id, student_number) = req(who);
        answers.push((
            "AcceptStudent",
            teacher_b.accept_student(AcceptStudentRequest { attendance_id, student_number }).await.unwrap_err(),
        ));
        let (attendance_id, student_number) = req(who);
        answers.push((
            "FailStudent",
            teacher_b
                .fail_student(FailStudentRequest { attendance_id, student_number, reason: "not here".into() })
                .await
                .unwrap_err(),
        ));
        let (attendance_id, student_number) = req(who);
        answers.push((
            "DeleteRecord",
            teacher_b
                .delete_record(DeleteRecordRequest { attendance_id, student_number, reason: "mine now".into() })
                .await
                .unwrap_err(),
        ));
    }
    answers.push((
        "AddStudent",
        teacher_b
            .add_student(AddStudentRequest {
                attendance_id: id.clone(),
                student_number: "demo_student_3".into(),
                full_name: "Demo Student 3".into(),
                is_attended: true,
                reason: String::new(),
            })
            .await
            .unwrap_err(),
    ));
    answers.push((
        "DeleteAttendance",
        teacher_b
            .delete_attendance(DeleteAttendanceRequest { attendance_id: id.clone(), reason: "cleanup".into() })
            .await
            .unwrap_err(),
    ));
    answers.push((
        "ListAuditEvents",
        teacher_b.list_audit_events(ListAuditEventsRequest { attendance_id: id.clone() }).await.unwrap_err(),
    ));
    answers.push((
        "ExportSessionRecords",
        teacher_b.export_session_records(ExportSessionRecordsRequest { attendance_id: id.clone() }).await.unwrap_err(),
    ));
    for (rpc, status) in &answers {
        assert_eq!(status.code(), Code::NotFound, "{rpc}: {}", status.message());
        assert_eq!(without_id(status, &id), expected, "{rpc} says no more than for an unknown id");
        // Nor do the details: the same code, and only the id the caller sent.
        assert_eq!(reason_of(status), Reason::SessionNotFound, "{rpc}");
        let metadata = status.get_details_error_info().unwrap().metadata;
        assert_eq!(metadata, [("attendance_id".to_owned(), id.clone())].into(), "{rpc}");
        for secret in ["Secret Seminar", "demo_teacher_1", "Demo Teacher 1", "demo_student_1"] {
            assert!(!status.message().contains(secret), "{rpc} revealed {secret:?}: {}", status.message());
        }
    }

    // A's session and roster are exactly as they were.
    let after = list_records(&mut teacher_a, &id).await;
    assert_eq!(after.records, before.records);
    let after_session = after.attendance.unwrap();
    assert_eq!(after_session.state(), AttendanceState::Open, "{after_session:?}");
    assert_eq!(after_session.end_time, session.end_time);
    assert_eq!((env.open_streams)(), 0, "the refused watch holds nothing open");
    // And B has no session to show.
    let live_b = teacher_b.get_live_attendance(GetLiveAttendanceRequest {}).await.unwrap().into_inner();
    assert_eq!(live_b.attendance, None);
    let listed_b = teacher_b.list_attendances(ListAttendancesRequest::default()).await.unwrap().into_inner();
    assert!(listed_b.attendances.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_teachers_archived_session_reads_as_not_found_and_is_left_untouched() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher_a = clients.demo_teacher(1).await;
    let mut teacher_b = clients.demo_teacher(2).await;
    let session = start(&mut teacher_a, "Secret Seminar", 1, &[]).await.unwrap();
    let id = session.attendance_id.clone();
    let mut student = clients.demo_student(1).await;
    attend(&mut student, &id, "r1").await.unwrap();
    finish_and_archive(&env, &teacher_a, &id).await;
    let before = list_records(&mut teacher_a, &id).await;

    let unknown = Uuid::now_v7().to_string();
    let nothing = teacher_b.list_records(ListRecordsRequest { attendance_id: unknown.clone() }).await.unwrap_err();
    let expected = without_id(&nothing, &unknown);
    let who = || "demo_student_1".to_string();
    let answers = [
        ("ListRecords", teacher_b.list_records(ListRecordsRequest { attendance_id: id.clone() }).await.unwrap_err()),
        ("WatchRecords", teacher_b.watch_records(WatchRecordsRequest { attendance_id: id.clone() }).await.unwrap_err()),
        (
            "FinishAttendance",
            teacher_b.finish_attendance(FinishAttendanceRequest { attendance_id: id.clone() }).await.unwrap_err(),
        ),
        (
            "AcceptStudent",
            teacher_b
                .accept_student(AcceptStudentRequest { attendance_id: id.clone(), student_number: who() })
                .await
                .unwrap_err(),
        ),
        (
            "FailStudent",
            teacher_b
                .fail_student(FailStudentRequest {
                    attendance_id: id.clone(),
                    student_number: who(),
                    reason: "not here".into(),
                })
                .await
                .unwrap_err(),
        ),
        (
            "AddStudent",
            teacher_b
                .add_student(AddStudentRequest {
                    attendance_id: id.clone(),
                    student_number: "demo_student_3".into(),
                    full_name: "Demo Student 3".into(),
                    is_attended: true,
                    reason: String::new(),
                })
                .await
                .unwrap_err(),
        ),
        (
            "DeleteRecord",
            teacher_b
                .delete_record(DeleteRecordRequest {
                    attendance_id: id.clone(),
                    student_number: who(),
                    reason: "mine now".into(),
                })
                .await
                .unwrap_err(),
        ),
        (
            "DeleteAttendance",
            teacher_b
                .delete_attendance(DeleteAttendanceRequest { attendance_id: id.clone(), reason: "cleanup".into() })
                .await
                .unwrap_err(),
        ),
        (
            "ListAuditEvents",
            teacher_b.list_audit_events(ListAuditEventsRequest { attendance_id: id.clone() }).await.unwrap_err(),
        ),
        (
            "ExportSessionRecords",
            teacher_b
                .export_session_records(ExportSessionRecordsRequest { attendance_id: id.clone() })
                .await
                .unwrap_err(),
        ),
    ];
    for (rpc, status) in &answers {
        assert_eq!(status.code(), Code::NotFound, "{rpc}: {}", status.message());
        assert_eq!(without_id(status, &id), expected, "{rpc} says no more than for an unknown id");
    }
    let after = list_records(&mut teacher_a, &id).await;
    assert_eq!(after.records, before.records);
    assert_ne!(after.attendance.unwrap().state(), AttendanceState::Deleted);
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_answer() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let wrong_password = clients.login("demo_student_1", "not the password").await.unwrap_err();
    let unknown_user = clients.login("nobody_at_all", "password").await.unwrap_err();
    let empty_password = clients.login("demo_student_1", "").await.unwrap_err();
    for status in [&wrong_password, &unknown_user, &empty_password] {
        assert_eq!(status.code(), Code::Unauthenticated);
        assert_eq!(status.message(), wrong_password.message());
    }
    assert!(!wrong_password.message().contains("demo_student_1"));
}

#[tokio::test]
async fn who_am_i_names_the_signed_in_user_and_logout_revokes_the_token() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let token = clients.login("demo_student_7", "password").await.unwrap();
    let other = clients.login("demo_student_7", "password").await.unwrap();
    let mut auth = clients.auth(bearer(&token));
    let me = auth.who_am_i(WhoAmIRequest {}).await.unwrap().into_inner();
    let user = me.user.unwrap();
    assert_eq!(user.school_number, "demo_student_7");
    assert_eq!(user.full_name, "Demo Student 7");
    assert_eq!(user.role, pb::Role::Student as i32);
    assert!(me.expires_at.is_some());

    auth.logout(LogoutRequest {}).await.unwrap();
    assert_status(auth.who_am_i(WhoAmIRequest {}).await, Code::Unauthenticated, "sign in again");
    let mut student = clients.student(bearer(&token));
    let result = student.list_my_attendance(ListMyAttendanceRequest::default()).await;
    assert_status(result, Code::Unauthenticated, "sign in again");
    assert_status(auth.logout(LogoutRequest {}).await, Code::Unauthenticated, "sign in again");

    // Only that token: the same student's other sign-in still works.
    let me = clients.auth(bearer(&other)).who_am_i(WhoAmIRequest {}).await.unwrap().into_inner();
    assert_eq!(me.user.unwrap().school_number, "demo_student_7");
}

#[tokio::test]
async fn a_teachers_token_says_teacher() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let token = clients.login("demo_teacher_3", "password").await.unwrap();
    let me = clients.auth(bearer(&token)).who_am_i(WhoAmIRequest {}).await.unwrap().into_inner();
    let user = me.user.unwrap();
    assert_eq!(user.school_number, "demo_teacher_3");
    assert_eq!(user.role, pb::Role::Teacher as i32);
}

#[tokio::test]
async fn too_many_sign_in_attempts_are_rate_limited() {
    let env = TestEnv::start_with(|opts| opts.attendance.login_attempts_per_minute = 3).await;
    let clients = env.clients().await;
    for _ in 0..3 {
        assert_reason(
            clients.login("demo_student_1", "guess").await,
            Reason::WrongCredentials,
            "wrong username or password",
        );
    }
    // Now even the right password waits, and the app is told for how long.
    let status = assert_reason(
        clients.login("demo_student_1", "password").await,
        Reason::RateLimited,
        "too many sign-in attempts",
    );
    let wait = status.get_details_retry_info().and_then(|r| r.retry_delay).expect("RetryInfo");
    assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60), "{wait:?}");
    // Per user name: someone else at the same address still gets in.
    clients.login("demo_student_2", "password").await.unwrap();
}

#[tokio::test]
async fn too_many_check_ins_are_rate_limited() {
    let env = TestEnv::start_with(|opts| opts.attendance.attend_attempts_per_minute = 3).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    let mut student = clients.demo_student(1).await;
    attend(&mut student, &id, "r1").await.unwrap();
    for n in 2..=3 {
        assert_status(attend(&mut student, &id, &format!("r{n}")).await, Code::AlreadyExists, "already attended");
    }
    let status =
        assert_reason(attend(&mut student, &id, "r4").await, Reason::RateLimited, "too many check-in attempts");
    let wait = status.get_details_retry_info().and_then(|r| r.retry_delay).expect("RetryInfo");
    assert!(wait > Duration::ZERO && wait <= Duration::from_secs(60), "{wait:?}");
    // Per student: a classmate is not held up.
    let mut classmate = clients.demo_student(2).await;
    attend(&mut classmate, &id, "r1").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_service_demands_the_internal_token_and_attendance_service_presents_it() {
    use attn_proto::internal::v1::{CheckNetworkRequest, verification_service_client::VerificationServiceClient};
    let env = TestEnv::start_with(|opts| {
        opts.verification.internal_token = Some("campus-internal-secret".into());
        opts.attendance.internal_token = Some("campus-internal-secret".into());
    })
    .await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Networks", 2, &["127.0.0.0/16"]).await.unwrap();
    let mut student = clients.demo_student(1).await;
    assert!(
        attend(&mut student, &session.attendance_id, "r1").await.unwrap().is_attended,
        "the service's own calls get through"
    );

    // Anyone else reaching the internal port is turned away.
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", env.verification_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let request = CheckNetworkRequest { networks: vec!["127.0.0.0/8".into()], client_address: "127.0.0.1".into() };
    let refused = VerificationServiceClient::new(channel.clone()).check_network(request.clone()).await.unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    let forged = VerificationServiceClient::with_interceptor(channel, bearer("guessing"))
        .check_network(request)
        .await
        .unwrap_err();
    assert_eq!(forged.code(), Code::Unauthenticated);
}

/// Asks the attendance-service behind `clients` whose `token` it is.
async fn who_is(clients: &attn_e2e::Clients, token: &str) -> Result<String, Status> {
    let me = clients.auth(bearer(token)).who_am_i(WhoAmIRequest {}).await?.into_inner();
    Ok(me.user.map(|u| u.school_number).unwrap_or_default())
}

#[tokio::test]
async fn a_logout_on_one_replica_stops_the_token_on_another_that_has_it_cached() {
    // Cached for ten minutes: only the revocation broadcast can stop it in time.
    let env = TestEnv::start_with(|opts| opts.attendance.token_cache_ms = 600_000).await;
    let first = env.clients().await;
    let second = env.clients_of(env.start_attendance_replica().await).await;
    let token = first.login("demo_student_8", "password").await.unwrap();
    assert_eq!(who_is(&second, &token).await.unwrap(), "demo_student_8", "the second replica reads and caches it");

    first.auth(bearer(&token)).logout(LogoutRequest {}).await.unwrap();
    // The bound only fails a broadcast that never arrives: at a twentieth of
    // the cache lifetime, anything refused within it was refused by the broadcast.
    let refused = attn_e2e::eventually(std::time::Duration::from_secs(30), "the second replica to refuse", || async {
        who_is(&second, &token).await.err()
    })
    .await;
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(refused.message().contains("sign in again"), "{}", refused.message());
    assert_status(who_is(&first, &token).await, Code::Unauthenticated, "sign in again");
}

#[tokio::test]
async fn a_replica_answers_a_known_token_from_memory_for_at_most_the_cache_lifetime() {
    use fred::interfaces::KeysInterface;
    use std::time::{Duration, Instant};

    // The cache's lifetime is judged by the wall clock, as a sign-in's expiry
    // is (the auth layer's and Redis's), so the injected clock cannot move it:
    // each step is timed from an event the test saw, and only ever in the
    // direction a stall cannot falsify.
    const LIFETIME: Duration = Duration::from_secs(3);
    const ATTEMPTS: usize = 5;
    let env = TestEnv::start_with(|opts| opts.attendance.token_cache_ms = LIFETIME.as_millis() as u64).await;
    let clients = env.clients().await;
    let mut from_memory = None;
    for attempt in 1..=ATTEMPTS {
        let token = clients.login("demo_student_9", "password").await.unwrap();
        // The replica caches what it reads no earlier than this call is sent...
        let sent = Instant::now();
        assert_eq!(who_is(&clients, &token).await.unwrap(), "demo_student_9", "read from Redis, and cached");
        // ...and no later than its answer arrives.
        let cached_by = Instant::now();
        // Gone from Redis without a logout's broadcast (as if it expired early):
        // the replica keeps answering from memory, so check-ins skip that read...
        let key = attn_store::Keys::new(&env.key_prefix).unwrap().token(&attn_store::tokens::hash_token(&token));
        let deleted: i64 = env.live.pool().del(key).await.unwrap();
        assert_eq!(deleted, 1);
        let answer = who_is(&clients, &token).await;
        if sent.elapsed() < LIFETIME {
            // Answered while the entry was surely alive: it must have been used.
            assert_eq!(answer.unwrap(), "demo_student_9", "attempt {attempt}");
            from_memory = Some((token, cached_by));
            break;
        }
        // The machine stalled past the lifetime: either answer is right, and
        // this attempt proves nothing. Sign in afresh and try again.
        eprintln!("attempt {attempt}: {:?} passed before the answer; trying again", sent.elapsed());
    }
    let (token, cached_by) =
        from_memory.unwrap_or_else(|| panic!("the machine stalled past {LIFETIME:?} in each of {ATTEMPTS} attempts"));
    // ...but no longer than ATTN_TOKEN_CACHE_MS after it was cached.
    tokio::time::sleep(LIFETIME.saturating_sub(cached_by.elapsed()) + Duration::from_millis(100)).await;
    assert_status(who_is(&clients, &token).await, Code::Unauthenticated, "sign in again");
}

#[tokio::test]
async fn with_the_cache_off_every_call_reads_redis() {
    use fred::interfaces::KeysInterface;

    let env = TestEnv::start_with(|opts| opts.attendance.token_cache_ms = 0).await;
    let clients = env.clients().await;
    let token = clients.login("demo_student_10", "password").await.unwrap();
    assert_eq!(who_is(&clients, &token).await.unwrap(), "demo_student_10");
    let key = attn_store::Keys::new(&env.key_prefix).unwrap().token(&attn_store::tokens::hash_token(&token));
    let _: i64 = env.live.pool().del(key).await.unwrap();
    assert_status(who_is(&clients, &token).await, Code::Unauthenticated, "sign in again");
}

/// Calls `path` (a method ATTN does not serve) with an empty message.
async fn call_unserved(channel: tonic::transport::Channel, path: &'static str, token: Option<&str>) -> Status {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("the channel is ready");
    let mut request = tonic::Request::new(WhoAmIRequest {});
    if let Some(token) = token {
        request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    let codec = tonic_prost::ProstCodec::<WhoAmIRequest, pb::WhoAmIResponse>::default();
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    grpc.unary(request, path, codec).await.expect_err("no such method")
}

#[tokio::test]
async fn a_method_attn_does_not_serve_is_permission_denied_for_every_role() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let sweeper = env.start_sweeper_with(|_| {}).await;
    let mut tokens = vec![("nobody", None)];
    for user in ["demo_student_1", "demo_teacher_1", "demo_admin"] {
        tokens.push((user, Some(clients.login(user, "password").await.unwrap())));
    }
    let unserved = [
        "/attn.v1.TeacherService/DropAllRecords",
        "/attn.v1.StudentService/MarkEveryoneAttended",
        "/attn.v1.SweeperService/DeleteEverything",
        "/attn.v1.NoSuchService/Anything",
        "/attn.v1.AuthService/login",
        "/attn.v2.AuthService/Login",
        "/not.attn.Service/Method",
    ];
    let ports = [
        ("attendance-service", env.channel().await),
        ("sweeper-service", sweeper.channel().await),
        ("verification-service", env.verification_channel().await),
    ];
    for (service, channel) in &ports {
        for path in unserved {
            for (who, token) in &tokens {
                let status = call_unserved(channel.clone(), path, token.as_deref()).await;
                assert_eq!(status.code(), Code::PermissionDenied, "{who} calling {path} on {service}: {status:?}");
                assert!(status.message().contains("no such method"), "{}", status.message());
            }
        }
    }
}

/// Signs in as `user` from `forwarded_for` (through a trusted proxy).
async fn login_from(
    clients: &attn_e2e::Clients,
    user: &str,
    password: &str,
    forwarded_for: &str,
) -> Result<(), Status> {
    let mut request = tonic::Request::new(pb::LoginRequest { username: user.into(), password: password.into() });
    request.metadata_mut().insert("x-forwarded-for", forwarded_for.parse().unwrap());
    clients.auth(Bearer::none()).login(request).await.map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_ins_whose_callers_hang_up_while_queued_cost_almost_no_password_checks() {
    use std::sync::atomic::Ordering::Relaxed;
    const CALLERS: u64 = 200;
    let env = TestEnv::start_with(|opts| opts.attendance.password_check_queue = 1_000).await;
    let clients = env.clients().await;
    let stats = env.password_checks.clone();
    let before = stats.checked.load(Relaxed);
    let callers: Vec<_> = (1..=CALLERS)
        .map(|n| {
            let clients = clients.clone();
            tokio::spawn(async move { clients.login(&format!("demo_student_{n}"), "a wrong guess").await })
        })
        .collect();
    // Once most of them wait for a password check, every caller hangs up.
    eventually(std::time::Duration::from_secs(30), "the sign-ins to queue", || async {
        (stats.queued.load(Relaxed) >= CALLERS * 3 / 4).then_some(())
    })
    .await;
    for caller in &callers {
        caller.abort();
    }
    let queued = eventually(std::time::Duration::from_secs(60), "the queue to drain", || async {
        let queued = stats.queued.load(Relaxed);
        let done = stats.checked.load(Relaxed) - before + stats.skipped.load(Relaxed);
        (done >= queued && queued == stats.queued.load(Relaxed)).then_some(queued)
    })
    .await;
    let checked = stats.checked.load(Relaxed) - before;
    let skipped = stats.skipped.load(Relaxed);
    println!("password checks: {queued} queued by {CALLERS} callers who hung up: {checked} run, {skipped} skipped");
    assert!(skipped >= queued / 2, "most queued checks were skipped: {checked} run, {skipped} skipped");
    assert!(checked <= queued / 2, "{checked} of {queued} checks ran for callers who had gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_of_sign_ins_from_one_ipv6_slash_64_is_limited_as_one_address() {
    use futures::StreamExt;
    // 5 per user name, so 50 per address bucket.
    let env = TestEnv::start_with(|opts| {
        opts.attendance.trusted_proxies = "127.0.0.0/8".into();
        opts.attendance.login_attempts_per_minute = 5;
    })
    .await;
    let clients = env.clients().await;
    let burst = |addresses: Vec<String>| {
        let clients = clients.clone();
        async move {
            let outcomes: Vec<Result<(), Status>> = futures::stream::iter(addresses.into_iter().enumerate())
                .map(|(n, address)| {
                    let clients = clients.clone();
                    async move { login_from(&clients, &format!("demo_student_{}", n + 1), "guess", &address).await }
                })
                .buffer_unordered(32)
                .collect()
                .await;
            let limited = outcomes
                .iter()
                .filter(|outcome| outcome.as_ref().is_err_and(|s| s.code() == Code::ResourceExhausted))
                .count();
            let let_through = outcomes
                .iter()
                .filter(|outcome| outcome.as_ref().is_err_and(|s| s.code() == Code::Unauthenticated))
                .count();
            (let_through, limited)
        }
    };
    // 500 different addresses, one /64: one bucket.
    let (let_through, limited) = burst((1..=500).map(|n| format!("2001:db8:7:7::{n:x}")).collect()).await;
    println!("500 sign-ins from one /64: {let_through} let through to a password check, {limited} limited");
    assert_eq!(let_through + limited, 500);
    assert!((50..=55).contains(&let_through), "{let_through} let through");
    // Another /64 has its own bucket.
    let (let_through, _) = burst(vec!["2001:db8:7:8::1".into()]).await;
    assert_eq!(let_through, 1);
    // Callers whose address is unknown share one bucket too.
    let (let_through, limited) = burst(vec!["unknown".to_owned(); 60]).await;
    assert!(let_through <= 55 && limited >= 5, "{let_through} let through, {limited} limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_and_check_in_limits_hold_in_total_across_two_replicas() {
    let env = TestEnv::start_with(|opts| {
        opts.attendance.login_attempts_per_minute = 4;
        opts.attendance.attend_attempts_per_minute = 4;
    })
    .await;
    let replicas = [env.clients().await, env.clients_of(env.start_attendance_replica().await).await];

    // Sign-in: four wrong guesses in all, alternating replicas; then even the right password waits.
    for n in 0..4 {
        assert_status(replicas[n % 2].login("demo_student_1", "guess").await, Code::Unauthenticated, "wrong");
    }
    let limited = replicas[0].login("demo_student_1", "password").await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    assert!(limited.message().contains("too many sign-in attempts"), "{}", limited.message());
    assert_status(replicas[1].login("demo_student_1", "password").await, Code::ResourceExhausted, "too many");

    // Check-in: a network check the student fails, retried four times in all across replicas.
    let mut teacher = replicas[0].demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 2, &["10.9.9.0/24"]).await.unwrap();
    let token = replicas[0].login("demo_student_2", "password").await.unwrap();
    let mut students = [replicas[0].student(bearer(&token)), replicas[1].student(bearer(&token))];
    for n in 0..4 {
        let record = attend(&mut students[n % 2], &session.attendance_id, &format!("r{n}")).await.unwrap();
        assert_eq!(record.fail_reason, "WIFI_FAILED");
    }
    for student in &mut students {
        let refused = attend(student, &session.attendance_id, "r9").await.unwrap_err();
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
        assert!(refused.message().contains("too many check-in attempts"), "{}", refused.message());
    }
}

#[tokio::test]
async fn an_error_the_grpc_machinery_makes_still_carries_error_info() {
    let env = TestEnv::start().await;
    let mut health = tonic_health::pb::health_client::HealthClient::new(env.channel().await);
    let unknown = tonic_health::pb::HealthCheckRequest { service: "attn.v1.NoSuchService".into() };
    let status = health.check(unknown).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert_eq!(reason_of(&status), Reason::NotFound);
}

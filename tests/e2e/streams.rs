//! Server streams hold a Redis subscription each; a client that goes away
//! must give it back at once, not at the session's next event.

use std::time::Duration;

use attn_domain::Record;
use attn_e2e::{TestEnv, bearer, eventually};
use attn_proto::v1::{LogoutRequest, WatchMyRecordRequest, WatchRecordsRequest, watch_records_response::Event};
use futures::StreamExt;
use tonic::Code;
use uuid::Uuid;

use attn_runtime::Reason;
use tonic_types::StatusExt;

use crate::common::{STREAM_WAIT, attend, reason_of, start};

const RELEASE: Duration = Duration::from_secs(10);

/// Roster streams opened, then dropped all together.
const STREAMS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_roster_streams_release_their_resources() {
    let env = TestEnv::start_with(|opts| opts.attendance.streams_per_user = STREAMS + 1).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    let request = || WatchRecordsRequest { attendance_id: id.clone() };

    // A hundred streams multiplexed on one connection, a hundred on
    // connections of their own (one sign-in, many browser tabs).
    let token = clients.login("demo_teacher_1", "password").await.unwrap();
    let mut streams = Vec::new();
    for n in 0..STREAMS {
        let mut watcher = if n < STREAMS / 2 { teacher.clone() } else { env.clients().await.teacher(bearer(&token)) };
        let mut stream = watcher.watch_records(request()).await.unwrap().into_inner();
        let first = tokio::time::timeout(STREAM_WAIT, stream.next()).await.unwrap().unwrap().unwrap();
        assert!(matches!(first.event, Some(Event::Snapshot(_))), "{first:?}");
        streams.push((watcher, stream));
    }
    assert_eq!((env.open_streams)(), STREAMS);

    drop(streams);
    eventually(RELEASE, "every dropped roster stream to be released", || async {
        ((env.open_streams)() == 0).then_some(())
    })
    .await;

    // The session's events still reach a new watcher.
    let mut stream = teacher.watch_records(request()).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap();
    let mut student = clients.demo_student(1).await;
    attend(&mut student, &id, "r").await.unwrap();
    let event = tokio::time::timeout(STREAM_WAIT, stream.next()).await.unwrap().unwrap().unwrap();
    match event.event {
        Some(Event::Record(record)) => assert_eq!(record.student_number, "demo_student_1"),
        other => panic!("expected the check-in, got {other:?}"),
    }
    assert_eq!((env.open_streams)(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_stream_of_a_students_pending_record_is_released() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    // A pending face check keeps the student's stream open; arrange one directly.
    let pending = Record::pending_face_check("demo_student_1", "Demo Student 1", "job-1");
    env.live.write_record(Uuid::parse_str(&id).unwrap(), None, &pending, None, None).await.unwrap();

    let mut student = clients.demo_student(1).await;
    let mut streams = Vec::new();
    for _ in 0..5 {
        let mut stream =
            student.watch_my_record(WatchMyRecordRequest { attendance_id: id.clone() }).await.unwrap().into_inner();
        let first = tokio::time::timeout(STREAM_WAIT, stream.next()).await.unwrap().unwrap().unwrap();
        assert!(!first.record.unwrap().is_attended);
        streams.push(stream);
    }
    assert_eq!((env.open_streams)(), 5);
    drop(streams);
    eventually(RELEASE, "every dropped record stream to be released", || async {
        ((env.open_streams)() == 0).then_some(())
    })
    .await;
}

/// The next message of a stream, which must be its end with `code`.
/// Waits for the stream to end with `reason` (and its code); its message.
async fn ends_with<T: std::fmt::Debug>(stream: &mut tonic::Streaming<T>, reason: Reason) -> String {
    let end = tokio::time::timeout(STREAM_WAIT, stream.next()).await.expect("the stream ends in time");
    match end {
        Some(Err(status)) if status.code() == reason.code() => {
            assert_eq!(reason_of(&status), reason, "{status:?}");
            status.message().to_owned()
        }
        other => panic!("expected the stream to end with {reason} ({:?}), got {other:?}", reason.code()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_on_any_replica_ends_every_open_stream_of_that_token() {
    let env = TestEnv::start().await;
    let here = env.clients().await;
    let there = env.clients_of(env.start_attendance_replica().await).await;
    let token = here.login("demo_teacher_1", "password").await.unwrap();
    let other_sign_in = here.login("demo_teacher_1", "password").await.unwrap();
    let mut teacher = here.teacher(bearer(&token));
    let id = start(&mut teacher, "Physics", 1, &[]).await.unwrap().attendance_id;
    let request = || WatchRecordsRequest { attendance_id: id.clone() };
    let mut streams = Vec::new();
    for clients in [&here, &here, &there] {
        let mut stream = clients.teacher(bearer(&token)).watch_records(request()).await.unwrap().into_inner();
        stream.next().await.unwrap().unwrap();
        streams.push(stream);
    }
    let mut unaffected = here.teacher(bearer(&other_sign_in)).watch_records(request()).await.unwrap().into_inner();
    unaffected.next().await.unwrap().unwrap();

    let logged_out = std::time::Instant::now();
    there.auth(bearer(&token)).logout(LogoutRequest {}).await.unwrap();
    for stream in &mut streams {
        let message = ends_with(stream, Reason::SignedOut).await;
        assert!(message.contains("signed out"), "{message}");
    }
    println!("three streams on two replicas ended {:?} after the logout", logged_out.elapsed());

    // The same teacher's other sign-in keeps its stream.
    let mut student = here.demo_student(1).await;
    attend(&mut student, &id, "r").await.unwrap();
    let event = tokio::time::timeout(STREAM_WAIT, unaffected.next()).await.unwrap().unwrap().unwrap();
    assert!(matches!(event.event, Some(Event::Record(_))), "{event:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_sign_in_expires() {
    // Sign-ins expire by the wall clock (the auth layer's and Redis's), so
    // the injected clock cannot hurry this one. A two-second sign-in can run
    // out before the stream is open if the machine stalls: then the step is
    // refused as expired, which is right, and is taken again with a fresh
    // sign-in (the session stays the teacher's).
    const ATTEMPTS: usize = 5;
    let env = TestEnv::start_with(|opts| opts.attendance.teacher_token_ttl_secs = 2).await;
    let clients = env.clients().await;
    let expired_already = |status: &tonic::Status| {
        assert_eq!(reason_of(status), Reason::TokenInvalid, "{status:?}");
    };
    let mut session: Option<String> = None;
    let mut opened = None;
    for _ in 0..ATTEMPTS {
        let token = clients.login("demo_teacher_1", "password").await.unwrap();
        let mut teacher = clients.teacher(bearer(&token));
        let id = if let Some(id) = session.clone() {
            id
        } else {
            match start(&mut teacher, "Physics", 1, &[]).await {
                Ok(started) => session.insert(started.attendance_id).clone(),
                Err(status) => {
                    expired_already(&status);
                    continue;
                }
            }
        };
        match teacher.watch_records(WatchRecordsRequest { attendance_id: id }).await {
            Ok(stream) => {
                opened = Some(stream.into_inner());
                break;
            }
            Err(status) => expired_already(&status),
        }
    }
    let mut stream =
        opened.unwrap_or_else(|| panic!("the machine stalled past a 2 s sign-in in each of {ATTEMPTS} attempts"));
    let message = match tokio::time::timeout(STREAM_WAIT, stream.next()).await.expect("a first message") {
        Some(Ok(_)) => ends_with(&mut stream, Reason::TokenExpired).await,
        // Expired before the first message: that is the end this waits for.
        Some(Err(status)) if reason_of(&status) == Reason::TokenExpired => status.message().to_owned(),
        other => panic!("expected the roster, or the stream to end as expired, got {other:?}"),
    };
    assert!(message.contains("expired"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_may_hold_only_so_many_streams_at_once() {
    let env = TestEnv::start_with(|opts| opts.attendance.streams_per_user = 3).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = start(&mut teacher, "Physics", 1, &[]).await.unwrap().attendance_id;
    let request = || WatchRecordsRequest { attendance_id: id.clone() };
    let mut streams = Vec::new();
    for _ in 0..3 {
        // Separate sign-ins of one user count together.
        let mut watcher = clients.demo_teacher(1).await;
        let mut stream = watcher.watch_records(request()).await.unwrap().into_inner();
        stream.next().await.unwrap().unwrap();
        streams.push(stream);
    }
    let refused = teacher.watch_records(request()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("ATTN_STREAMS_PER_USER"), "{}", refused.message());
    assert_eq!(reason_of(&refused), Reason::TooManyStreams);
    let info = refused.get_details_error_info().unwrap();
    assert_eq!(info.metadata.get("limit").map(String::as_str), Some("3"), "{info:?}");
    assert!(refused.get_details_retry_info().is_none(), "waiting alone does not help: {refused:?}");
    // Another teacher is not held up.
    let mut colleague = clients.demo_teacher(2).await;
    let other = start(&mut colleague, "Chemistry", 1, &[]).await.unwrap().attendance_id;
    colleague.watch_records(WatchRecordsRequest { attendance_id: other }).await.unwrap();

    // A closed stream frees its slot.
    streams.pop();
    eventually(RELEASE, "the closed stream's slot to be free", || {
        let mut teacher = teacher.clone();
        let request = request();
        async move { teacher.watch_records(request).await.ok() }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_logout_ends_a_students_stream_of_a_pending_record() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = start(&mut teacher, "Physics", 1, &[]).await.unwrap().attendance_id;
    let pending = Record::pending_face_check("demo_student_1", "Demo Student 1", "job-1");
    env.live.write_record(Uuid::parse_str(&id).unwrap(), None, &pending, None, None).await.unwrap();
    let token = clients.login("demo_student_1", "password").await.unwrap();
    let mut student = clients.student(bearer(&token));
    let mut stream = student.watch_my_record(WatchMyRecordRequest { attendance_id: id }).await.unwrap().into_inner();
    stream.next().await.unwrap().unwrap();

    clients.auth(bearer(&token)).logout(LogoutRequest {}).await.unwrap();
    let message = ends_with(&mut stream, Reason::SignedOut).await;
    assert!(message.contains("signed out"), "{message}");
}

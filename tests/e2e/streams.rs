//! Server streams hold a Redis subscription each; a client that goes away
//! must give it back at once, not at the session's next event.

use std::time::Duration;

use attn_domain::Record;
use attn_e2e::{TestEnv, bearer, eventually};
use attn_proto::v1::{WatchMyRecordRequest, WatchRecordsRequest, watch_records_response::Event};
use futures::StreamExt;
use uuid::Uuid;

use crate::common::{STREAM_WAIT, attend, start};

const RELEASE: Duration = Duration::from_secs(10);

/// Roster streams opened, then dropped all together.
const STREAMS: usize = 200;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_roster_streams_release_their_resources() {
    let env = TestEnv::start().await;
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

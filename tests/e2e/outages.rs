//! A dependency going down: calls that need it answer UNAVAILABLE promptly
//! (never hang, never panic), calls that don't keep working, and everything
//! comes back when the dependency does.
//!
//! Each service reaches the dependency through a [`Proxy`] the test cuts
//! (connections closed and refused) or stalls (connections open, nothing
//! answering: the outage where a missing timeout becomes a hang).

use std::{future::Future, time::Duration};

use attn_e2e::{Proxy, StudentClient, TestEnv, eventually, postgres_server, redis_server};
use attn_proto::v1::{self as pb, ListRecordsRequest};
use attn_runtime::Shutdown;
use secrecy::ExposeSecret;
use tonic::{Code, Status};
use uuid::Uuid;

use crate::{
    common::{attend, list_records, start},
    metrics::{sample, scrape},
};

/// Far longer than the services' dependency timeouts (1 s here), far
/// shorter than a hang: the server's own request timeout is 15 s.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);
/// How long a dependency that is back may take to be used again.
const RECOVERY: Duration = Duration::from_secs(30);
const DEPENDENCY_TIMEOUT_MS: u64 = 1_000;

/// Awaits a call that should fail UNAVAILABLE, and fails the test if it hangs instead.
async fn assert_unavailable<T: std::fmt::Debug>(what: &str, call: impl Future<Output = Result<T, Status>>) {
    let result = tokio::time::timeout(ANSWER_WITHIN, call)
        .await
        .unwrap_or_else(|_| panic!("{what} hung for {ANSWER_WITHIN:?} instead of answering UNAVAILABLE"));
    match result {
        Ok(value) => panic!("{what}: expected UNAVAILABLE, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(status.code(), Code::Unavailable, "{what}: {}", status.message());
            assert!(status.message().contains("unavailable"), "{what}: {}", status.message());
        }
    }
}

/// Waits until `student` can check in to `id` again.
async fn attend_eventually(student: &StudentClient, id: &str, request_id: &str) -> pb::AttendanceRecord {
    eventually(RECOVERY, "a check-in to succeed again", || {
        let mut student = student.clone();
        let (id, request_id) = (id.to_owned(), request_id.to_owned());
        async move { attend(&mut student, &id, &request_id).await.ok() }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_refusing_connections_makes_calls_unavailable_quickly_and_they_recover() {
    redis_outage(Proxy::cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_that_stops_answering_makes_calls_unavailable_not_hung() {
    redis_outage(Proxy::stall).await;
}

async fn redis_outage(go_down: fn(&Proxy)) {
    let redis = Proxy::start(redis_server()).await;
    let env = TestEnv::start_with(|opts| {
        let url = redis.reroute(opts.attendance.redis.redis_url.expose_secret());
        opts.attendance.redis.redis_url = url.into();
        opts.attendance.redis.redis_timeout_ms = DEPENDENCY_TIMEOUT_MS;
    })
    .await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut other_teacher = clients.demo_teacher(2).await;
    let student = clients.demo_student(1).await;
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let id = session.attendance_id;

    go_down(&redis);
    let mut s = student.clone();
    assert_unavailable("Attend", attend(&mut s, &id, "r1")).await;
    assert_unavailable("StartAttendance", start(&mut other_teacher, "Chemistry", 1, &[])).await;
    assert_unavailable("Login", clients.login("demo_student_2", "password")).await;
    assert_unavailable("ListRecords", teacher.list_records(ListRecordsRequest { attendance_id: id.clone() })).await;

    redis.restore();
    let record = attend_eventually(&student, &id, "r2").await;
    assert!(record.is_attended);
    clients.login("demo_student_2", "password").await.unwrap();
    assert_eq!(list_records(&mut teacher, &id).await.records, vec![record]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_connections_makes_calls_that_need_it_unavailable_and_check_ins_go_on() {
    postgres_outage(Proxy::cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_that_stops_answering_makes_calls_that_need_it_unavailable_not_hung() {
    postgres_outage(Proxy::stall).await;
}

async fn postgres_outage(go_down: fn(&Proxy)) {
    let postgres = Proxy::start(postgres_server()).await;
    let env = TestEnv::start_with(|opts| {
        let url = postgres.reroute(opts.attendance.database.database_url.expose_secret());
        opts.attendance.database.database_url = url.into();
        opts.attendance.database.database_timeout_ms = DEPENDENCY_TIMEOUT_MS;
    })
    .await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let student = clients.demo_student(1).await;

    let connection_waits = |text: &str| sample(text, "attn_db_pool_acquire_seconds_count", &[]).unwrap_or_default();
    let unavailable = |text: &str| {
        sample(text, "attn_dependency_errors_total", &[("dependency", "postgres"), ("kind", "unavailable")])
            .expect("attn_dependency_errors_total is served")
    };
    let before = scrape(env.attendance_metrics_addr).await;

    go_down(&postgres);
    assert_unavailable("Login", clients.login("demo_student_2", "password")).await;
    // Operators see it: the failed waits for a connection, and the errors
    // sqlx returned. (Errors are counted per process; other tests' can only add.)
    let during = scrape(env.attendance_metrics_addr).await;
    assert!(connection_waits(&during) > connection_waits(&before), "{during}");
    assert!(unavailable(&during) > unavailable(&before), "{during}");
    let unknown = Uuid::now_v7().to_string();
    assert_unavailable(
        "ListRecords of a session not in Redis",
        teacher.list_records(ListRecordsRequest { attendance_id: unknown.clone() }),
    )
    .await;
    let mut s = student.clone();
    assert_unavailable("Attend to a session not in Redis", attend(&mut s, &unknown, "r0")).await;

    // A live lesson needs only Redis: it goes on while PostgreSQL is down.
    let session = start(&mut teacher, "Physics", 1, &[]).await.unwrap();
    let record = attend(&mut s, &session.attendance_id, "r1").await.unwrap();
    assert!(record.is_attended);
    assert_eq!(list_records(&mut teacher, &session.attendance_id).await.records, vec![record]);

    postgres.restore();
    eventually(RECOVERY, "sign-in to work again", || async { clients.login("demo_student_2", "password").await.ok() })
        .await;
    let status = teacher.list_records(ListRecordsRequest { attendance_id: unknown }).await.unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_service_refusing_connections_makes_network_checked_check_ins_unavailable() {
    verification_outage(Proxy::cut).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verification_service_that_stops_answering_makes_network_checked_check_ins_unavailable() {
    verification_outage(Proxy::stall).await;
}

async fn verification_outage(go_down: fn(&Proxy)) {
    // Our own verification-service, behind a proxy we can cut.
    let verification_shutdown = Shutdown::new();
    let config = verification_service::Config {
        verification_addr: "127.0.0.1:0".into(),
        verification_metrics_addr: "127.0.0.1:0".into(),
        internal_token: Some(attn_e2e::TEST_INTERNAL_TOKEN.into()),
        ..Default::default()
    };
    let verification = verification_service::App::build(config).await.unwrap();
    let proxy = Proxy::start(verification.local_addr().to_string()).await;
    attn_e2e::spawn_watched(
        format!("verification-service at {}", verification.local_addr()),
        verification_shutdown.clone(),
        verification.run(verification_shutdown.clone()),
    );
    let env = TestEnv::start_with(|opts| {
        opts.attendance.verification_url = format!("http://{}", proxy.addr());
        opts.attendance.verification_timeout_ms = DEPENDENCY_TIMEOUT_MS;
    })
    .await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut manual_teacher = clients.demo_teacher(2).await;
    let mut face_teacher = clients.demo_teacher(3).await;
    let session = start(&mut teacher, "Physics", 2, &["127.0.0.0/16"]).await.unwrap();
    let manual = start(&mut manual_teacher, "Chemistry", 1, &[]).await.unwrap();
    let id = session.attendance_id;
    let mut first = clients.demo_student(1).await;
    assert!(attend(&mut first, &id, "r").await.unwrap().is_attended);

    go_down(&proxy);
    let second = clients.demo_student(2).await;
    let mut s = second.clone();
    assert_unavailable("Attend (option 2)", attend(&mut s, &id, "r1")).await;
    assert_unavailable("StartAttendance (option 3)", start(&mut face_teacher, "Biology", 3, &[])).await;
    // Nothing was written for the check-in that could not be verified...
    let records = list_records(&mut teacher, &id).await.records;
    assert_eq!(records.len(), 1, "{records:?}");
    // ...and sessions that check no network carry on.
    assert!(attend(&mut s, &manual.attendance_id, "r1").await.unwrap().is_attended);

    proxy.restore();
    let record = attend_eventually(&second, &id, "r2").await;
    assert!(record.is_attended);
    verification_shutdown.trigger();
}

//! Each service's `/metrics` on its own admin listener, scraped over HTTP
//! after real calls: exact counts, every family, labels from fixed sets
//! only, and nothing on the gRPC ports.

use std::{net::SocketAddr, time::Duration};

use attn_e2e::{TestEnv, eventually};
use attn_proto::v1 as pb;
use tokio_stream::StreamExt as _;
use tonic::Code;

use crate::common::{attend, finish_and_archive_with, start};

/// `GET http://<addr>/metrics` (reqwest is built without a crypto provider of its own).
async fn get_metrics(addr: SocketAddr) -> reqwest::Result<reqwest::Response> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::get(format!("http://{addr}/metrics")).await
}

/// The body of `GET http://<addr>/metrics`.
pub(crate) async fn scrape(addr: SocketAddr) -> String {
    let response = get_metrics(addr).await.expect("the admin listener answers");
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
    response.text().await.unwrap()
}

/// The value of the sample of `name` whose labels include all of `labels`.
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|line| !line.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (series_name, series_labels) = series.split_once('{').unwrap_or((series, ""));
        let all = labels.iter().all(|(key, value)| series_labels.contains(&format!("{key}=\"{value}\"")));
        (series_name == name && all).then(|| value.parse().expect("a number"))
    })
}

#[track_caller]
pub(crate) fn assert_sample(text: &str, name: &str, labels: &[(&str, &str)], expected: f64) {
    assert_eq!(sample(text, name, labels), Some(expected), "{name}{labels:?} in:\n{text}");
}

/// Every label value in a scrape.
fn label_values(text: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split_once('{').and_then(|(_, rest)| rest.rsplit_once('}')).map(|(l, _)| l.to_owned()))
        .flat_map(|labels| {
            labels
                .split("\",")
                .filter_map(|pair| pair.split_once('='))
                .map(|(_, v)| v.trim_matches('"').to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn each_service_serves_its_own_counts_on_its_admin_port() {
    // Two check-in attempts per student and minute, so the third is refused.
    let env = TestEnv::start_with(|options| options.attendance.attend_attempts_per_minute = 2).await;
    let clients = env.clients().await;
    let mut teacher_1 = clients.demo_teacher(1).await;
    let mut teacher_2 = clients.demo_teacher(2).await;
    // Students reach the tests' services from 127.0.0.1.
    let classroom = start(&mut teacher_1, "Physics", 2, &["127.0.0.0/16"]).await.unwrap();
    let elsewhere = start(&mut teacher_2, "Chemistry", 2, &["10.9.9.0/24"]).await.unwrap();
    let mut student_1 = clients.demo_student(1).await;
    let mut student_2 = clients.demo_student(2).await;

    attend(&mut student_1, &classroom.attendance_id, "r1").await.expect("attended");
    let failed = attend(&mut student_2, &elsewhere.attendance_id, "r1").await.expect("a failed record");
    assert_eq!(failed.fail_reason, "WIFI_FAILED");
    let again = attend(&mut student_1, &classroom.attendance_id, "r2").await.unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    let limited = attend(&mut student_1, &classroom.attendance_id, "r3").await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted);
    let invalid = attend(&mut student_2, "not-a-session", "r2").await.unwrap_err();
    assert_eq!(invalid.code(), Code::InvalidArgument);

    // A roster stream is counted while it is open.
    let mut roster = teacher_1
        .watch_records(pb::WatchRecordsRequest { attendance_id: classroom.attendance_id.clone() })
        .await
        .unwrap()
        .into_inner();
    roster.next().await.expect("a snapshot").unwrap();

    let attendance = scrape(env.attendance_metrics_addr).await;
    let checkins = "attn_checkins_total";
    assert_sample(&attendance, checkins, &[("security_option", "network"), ("outcome", "attended")], 1.0);
    assert_sample(&attendance, checkins, &[("security_option", "network"), ("outcome", "WIFI_FAILED")], 1.0);
    assert_sample(&attendance, "attn_rate_limited_total", &[("limit", "check_in")], 1.0);
    assert_sample(&attendance, "attn_rate_limited_total", &[("limit", "sign_in")], 0.0);
    let attend_rpc = [("grpc_service", "attn.v1.StudentService"), ("grpc_method", "Attend")];
    assert_sample(&attendance, "grpc_server_started_total", &attend_rpc, 5.0);
    for (code, n) in [("OK", 2.0), ("AlreadyExists", 1.0), ("ResourceExhausted", 1.0), ("InvalidArgument", 1.0)] {
        let labels = [attend_rpc[0], attend_rpc[1], ("grpc_code", code)];
        assert_sample(&attendance, "grpc_server_handled_total", &labels, n);
    }
    assert_sample(&attendance, "grpc_server_handling_seconds_count", &attend_rpc, 5.0);
    let logins = [("grpc_service", "attn.v1.AuthService"), ("grpc_method", "Login"), ("grpc_code", "OK")];
    assert_sample(&attendance, "grpc_server_handled_total", &logins, 4.0);
    // Every option-2 check-in not refused first asked verification-service:
    // the attended one, the failed one and the duplicate.
    let check_network = [
        ("grpc_service", "attn.internal.v1.VerificationService"),
        ("grpc_method", "CheckNetwork"),
        ("grpc_code", "OK"),
    ];
    assert_sample(&attendance, "grpc_client_handled_total", &check_network, 3.0);
    assert_sample(&attendance, "grpc_client_started_total", &check_network[..2], 3.0);
    assert_sample(&attendance, "grpc_client_handling_seconds_count", &check_network[..2], 3.0);
    assert_sample(&attendance, "attn_sessions_open", &[], 2.0);
    assert_sample(&attendance, "attn_streams_open", &[("kind", "watch_records")], 1.0);
    assert_sample(&attendance, "attn_streams_open", &[("kind", "watch_my_record")], 0.0);
    for family in [
        "attn_sign_in_cache_lookups_total",
        "attn_db_pool_connections",
        "attn_db_pool_max_connections",
        "attn_redis_pool_clients",
        "attn_redis_pool_queued_commands",
        "attn_redis_redeliveries_total",
        "grpc_server_handling_seconds_bucket",
    ] {
        assert!(sample(&attendance, family, &[]).is_some(), "{family} in:\n{attendance}");
    }
    // Both dependencies answered the scrape's own round trips.
    for dependency in ["redis", "postgres"] {
        assert_sample(&attendance, "attn_dependency_up", &[("dependency", dependency)], 1.0);
        for kind in ["unavailable", "corrupt", "internal"] {
            let errors =
                sample(&attendance, "attn_dependency_errors_total", &[("dependency", dependency), ("kind", kind)]);
            assert!(errors.is_some(), "attn_dependency_errors_total {dependency} {kind} in:\n{attendance}");
        }
    }
    // The sign-ins read the user directory: each waited for a connection.
    let waits = sample(&attendance, "attn_db_pool_acquire_seconds_count", &[]).unwrap_or_default();
    assert!(waits >= 4.0, "4 sign-ins, {waits} PostgreSQL connection waits:\n{attendance}");
    let hits = sample(&attendance, "attn_sign_in_cache_lookups_total", &[("result", "hit")]).unwrap();
    let misses = sample(&attendance, "attn_sign_in_cache_lookups_total", &[("result", "miss")]).unwrap();
    assert!(hits + misses >= 7.0, "every signed-in call checked its token: {hits} hits, {misses} misses");

    // The stream's end is counted once the server sees the client go.
    drop(roster);
    eventually(Duration::from_secs(10), "the closed stream to leave attn_streams_open", || async {
        let text = scrape(env.attendance_metrics_addr).await;
        (sample(&text, "attn_streams_open", &[("kind", "watch_records")]) == Some(0.0)).then_some(())
    })
    .await;

    // verification-service counted the same three calls, as a server.
    let verification = scrape(env.verification_metrics_addr).await;
    assert_sample(&verification, "grpc_server_handled_total", &check_network, 3.0);
    assert_sample(&verification, "grpc_server_started_total", &check_network[..2], 3.0);

    // The sweeper archives the finished session: one record.
    let sweeper = finish_and_archive_with(&env, &teacher_1, &classroom.attendance_id).await;
    let swept = scrape(sweeper.metrics_addr).await;
    assert_sample(&swept, "attn_archived_records_total", &[], 1.0);
    let runs = sample(&swept, "attn_job_runs_total", &[("job", "sweep_attendances"), ("outcome", "succeeded")]);
    assert!(runs.is_some_and(|runs| runs >= 1.0), "{swept}");
    assert!(sample(&swept, "attn_job_duration_seconds_count", &[("job", "sweep_attendances")]).is_some());
    assert_sample(&swept, "attn_face_queue_depth", &[], 0.0);
    assert_sample(&swept, "attn_face_queue_oldest_seconds", &[], 0.0);
    // Only the other session is still live, and it has not ended.
    assert_sample(&swept, "attn_sweep_lag_seconds", &[], 0.0);
    assert!(sample(&swept, "attn_db_pool_connections", &[("state", "idle")]).is_some(), "{swept}");
    let waits = sample(&swept, "attn_db_pool_acquire_seconds_count", &[]).unwrap_or_default();
    assert!(waits >= 1.0, "the archive's write waited for a connection:\n{swept}");
    for dependency in ["redis", "postgres"] {
        assert_sample(&swept, "attn_dependency_up", &[("dependency", dependency)], 1.0);
    }

    // Labels come from fixed sets: no session id, student or user name.
    for text in [&attendance, &verification, &swept] {
        for value in label_values(text) {
            for secret in [&classroom.attendance_id, &elsewhere.attendance_id, "demo_student", "demo_teacher", "Demo"] {
                assert!(!value.contains(secret), "label value {value:?} contains {secret:?}");
            }
        }
    }
}

#[tokio::test]
async fn metrics_are_never_served_on_the_grpc_ports() {
    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    for grpc in [env.attendance_addr, env.verification_addr, sweeper.addr] {
        // attendance-service answers HTTP/1.1 (grpc-web, the app's files); the others only gRPC.
        if let Ok(response) = get_metrics(grpc).await {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            assert!(!body.contains("grpc_server_started_total"), "{grpc} served metrics ({status})");
            assert_ne!(status, 200, "{grpc} answered /metrics");
        }
    }
    for admin in [env.attendance_metrics_addr, env.verification_metrics_addr, sweeper.metrics_addr] {
        assert!(![env.attendance_addr, env.verification_addr, sweeper.addr].contains(&admin));
        // 200 with Prometheus's text type (an idle verification-service has no samples yet).
        scrape(admin).await;
    }
}

#[tokio::test]
async fn an_unknown_method_is_counted_as_unknown_not_by_its_path() {
    let env = TestEnv::start().await;
    let mut grpc = tonic::client::Grpc::new(env.channel().await);
    grpc.ready().await.unwrap();
    let path = http::uri::PathAndQuery::from_static("/attn.v1.StudentService/s1234567");
    let codec = tonic_prost::ProstCodec::<pb::LoginRequest, pb::LoginResponse>::default();
    let refused = grpc.unary(tonic::Request::new(pb::LoginRequest::default()), path, codec).await.unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let text = scrape(env.attendance_metrics_addr).await;
    let unknown = [("grpc_service", "unknown"), ("grpc_method", "unknown"), ("grpc_code", "PermissionDenied")];
    assert_sample(&text, "grpc_server_handled_total", &unknown, 1.0);
    assert!(!text.contains("s1234567"), "{text}");
}

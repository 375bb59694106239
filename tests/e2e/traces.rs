//! Traces: attendance-, verification- and sweeper-service as real processes
//! (each with its own tracer provider, set up from `OTEL_*` as in
//! production) exporting to an OTLP receiver in the test.

use std::{collections::BTreeSet, time::Duration};

use attn_e2e::{OtlpReceiver, ReceivedSpan, ServiceProcess, Standin, TEST_INTERNAL_TOKEN, TestEnv, bearer};
use attn_proto::v1::{self as pb, GetMyRecordRequest, RunJobRequest, sweeper_service_client::SweeperServiceClient};
use secrecy::ExposeSecret as _;
use tonic::transport::Endpoint;

use crate::{
    common::start,
    face::{SELFIE, attend_with, face_env},
};

/// Export quickly, so the test waits on spans, not on the batch timer.
const EXPORT_DELAY_MS: &str = "200";
/// Generous: three processes, a face job and a batch exporter on a slow machine.
const TRACE_DEADLINE: Duration = Duration::from_secs(60);

/// What every service process shares: this test's stores, the internal
/// token, JSON logs, and where to export.
fn common_env(env: &TestEnv, otlp_endpoint: &str) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("ATTN_LOG", "info".into()),
        ("ATTN_LOG_FORMAT", "json".into()),
        ("ATTN_REDIS_URL", env.redis_settings().url.expose_secret().to_owned()),
        ("ATTN_REDIS_KEY_PREFIX", env.key_prefix.clone()),
        ("ATTN_INTERNAL_TOKEN", TEST_INTERNAL_TOKEN.into()),
        ("ATTN_ATTENDANCE_METRICS_ADDR", "127.0.0.1:0".into()),
        ("ATTN_VERIFICATION_METRICS_ADDR", "127.0.0.1:0".into()),
        ("ATTN_SWEEPER_METRICS_ADDR", "127.0.0.1:0".into()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", otlp_endpoint.to_owned()),
        ("OTEL_BSP_SCHEDULE_DELAY", EXPORT_DELAY_MS.into()),
    ];
    // Through PgBouncer in the pgbouncer stage, as the in-process services.
    settings.extend(env.database_settings());
    settings
}

fn with(mut env: Vec<(&'static str, String)>, more: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    env.extend(more.iter().map(|(key, value)| (*key, (*value).to_owned())));
    env
}

async fn start_verification(env: &TestEnv, standin: &Standin, otlp_endpoint: &str) -> ServiceProcess {
    let settings = with(
        common_env(env, otlp_endpoint),
        &[("ATTN_FACE_GATEWAY_URL", &standin.url()), ("ATTN_FACE_PHOTO_ALLOWED_HOSTS", "127.0.0.1")],
    );
    ServiceProcess::start("verification-service", "ATTN_VERIFICATION_ADDR", &settings).await
}

async fn start_attendance(
    env: &TestEnv,
    standin: &Standin,
    verification: &ServiceProcess,
    otlp_endpoint: &str,
) -> ServiceProcess {
    let settings = with(
        common_env(env, otlp_endpoint),
        &[
            ("ATTN_VERIFICATION_URL", &verification.url()),
            ("ATTN_DEMO_ACCOUNTS", "true"),
            ("ATTN_DEMO_PHOTO_BASE_URL", &standin.photos_url()),
            // Every test client comes from 127.0.0.1.
            ("ATTN_LOGIN_ATTEMPTS_PER_MINUTE", "10000"),
            ("ATTN_ATTEND_ATTEMPTS_PER_MINUTE", "10000"),
        ],
    );
    ServiceProcess::start("attendance-service", "ATTN_ATTENDANCE_ADDR", &settings).await
}

/// A span the trace must hold: its service, a test on it, and what it is.
type Expected = (&'static str, fn(&ReceivedSpan) -> bool, &'static str);

/// A W3C `traceparent` for a client that starts a trace of its own.
fn client_traceparent() -> (String, String) {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
    (format!("00-{trace_id}-{span_id}-01"), trace_id)
}

/// One line per span: service, kind, name; sorted so the listing reads the same each run.
fn listing(spans: &[ReceivedSpan]) -> String {
    let lines: BTreeSet<String> = spans
        .iter()
        .map(|span| format!("{:<22} {:<17} {}", span.service, span.kind.trim_start_matches("SPAN_KIND_"), span.name))
        .collect();
    lines.into_iter().collect::<Vec<_>>().join("\n")
}

/// The three services as processes exporting to one receiver, the stand-in
/// gateway, and an option-3 check-in in flight under the client's own trace.
struct TracedCheckIn {
    receiver: OtlpReceiver,
    standin: Standin,
    /// Held for its database and key prefix, which the processes use.
    _env: TestEnv,
    verification: ServiceProcess,
    attendance: ServiceProcess,
    sweeper: ServiceProcess,
    clients: attn_e2e::Clients,
    attendance_id: String,
    student_token: String,
    trace_id: String,
}

impl TracedCheckIn {
    /// `sweeper_settings`: on top of the common ones (the scheduler is off).
    async fn start(sweeper_settings: &[(&'static str, &str)]) -> Self {
        let receiver = OtlpReceiver::start().await;
        let otlp = receiver.endpoint();
        let standin = Standin::start(Duration::from_millis(300)).await;
        // The test's database, key prefix and demo accounts; its in-process
        // services stay idle: the processes below do the work.
        let env = face_env(&standin, |_| {}).await;
        let verification = start_verification(&env, &standin, &otlp).await;
        let attendance = start_attendance(&env, &standin, &verification, &otlp).await;
        let mut settings = with(
            common_env(&env, &otlp),
            &[("ATTN_VERIFICATION_URL", &verification.url()), ("ATTN_SCHEDULER_ENABLED", "false")],
        );
        settings = with(settings, sweeper_settings);
        let sweeper = ServiceProcess::start("sweeper-service", "ATTN_SWEEPER_ADDR", &settings).await;

        let clients = env.clients_of(attendance.addr).await;
        let mut teacher = clients.demo_teacher(1).await;
        let session = start(&mut teacher, "Tracing", 3, &["127.0.0.0/16"]).await.unwrap();
        let student_token = clients.login("demo_student_1", "password").await.unwrap();
        let (traceparent, trace_id) = client_traceparent();
        let mut traced = clients.student(bearer(&student_token).with("traceparent", &traceparent));
        let record = attend_with(&mut traced, &session.attendance_id, SELFIE).await.unwrap();
        assert_eq!(record.status, pb::RecordStatus::Pending as i32, "{record:?}");
        Self {
            receiver,
            standin,
            _env: env,
            verification,
            attendance,
            sweeper,
            clients,
            attendance_id: session.attendance_id,
            student_token,
            trace_id,
        }
    }

    /// Whether the face verdict is on the student's record yet.
    async fn verdict_landed(&self) -> bool {
        let mut student = self.clients.student(bearer(&self.student_token));
        let request = GetMyRecordRequest { attendance_id: self.attendance_id.clone() };
        let Ok(answer) = student.get_my_record(request).await else { return false };
        answer.into_inner().record.is_some_and(|record| record.status == pb::RecordStatus::Attended as i32)
    }

    /// Waits until every expected span is in `trace_id`, and returns them all.
    async fn spans_of(&self, trace_id: &str, expected: &[Expected]) -> Vec<ReceivedSpan> {
        let deadline = tokio::time::Instant::now() + TRACE_DEADLINE;
        loop {
            let spans = self.receiver.trace(trace_id);
            let missing: Vec<String> = expected
                .iter()
                .filter(|(service, matches, _)| !spans.iter().any(|span| span.service == *service && matches(span)))
                .map(|(service, _, what)| format!("{what} ({service})"))
                .collect();
            if missing.is_empty() {
                return spans;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "after {TRACE_DEADLINE:?}, trace {trace_id} still lacks: {}\nit has:\n{}\nall services sent {} spans; \
                 logs: {} {} {}",
                missing.join(", "),
                listing(&spans),
                self.receiver.spans().len(),
                self.attendance.log.display(),
                self.verification.log.display(),
                self.sweeper.log.display(),
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_check_in_is_one_trace_through_every_service_the_gateway_and_the_sweeper() {
    let traced = TracedCheckIn::start(&[]).await;
    let TracedCheckIn { standin, verification, trace_id, .. } = &traced;

    // The sweeper's fast path finishes the check.
    attn_e2e::eventually(Duration::from_secs(30), "the face verdict on the record", || async {
        traced.verdict_landed().await.then_some(())
    })
    .await;

    // Every hop, by service and span name, under the client's trace id.
    let expected: [Expected; 6] = [
        ("attendance-service", |s| s.name.ends_with("/Attend") && s.kind == "SPAN_KIND_SERVER", "the Attend RPC"),
        (
            "verification-service",
            |s| s.name.ends_with("/SubmitFaceCheck") && s.kind == "SPAN_KIND_SERVER",
            "SubmitFaceCheck",
        ),
        (
            "verification-service",
            |s| s.name == "face_gateway submit" && s.kind == "SPAN_KIND_CLIENT",
            "the gateway submit call",
        ),
        ("sweeper-service", |s| s.name == "check_face_verification_results job", "the sweeper's look at the job"),
        (
            "verification-service",
            |s| s.name.ends_with("/GetFaceCheck") && s.kind == "SPAN_KIND_SERVER",
            "GetFaceCheck from the sweeper",
        ),
        (
            "verification-service",
            |s| s.name == "face_gateway result" && s.kind == "SPAN_KIND_CLIENT",
            "the gateway result call",
        ),
    ];
    let spans = traced.spans_of(trace_id, &expected).await;
    println!("trace {trace_id}:\n{}", listing(&spans));

    // The sweeper's look is a child within the check-in's trace.
    let look = spans.iter().find(|span| span.name == "check_face_verification_results job").unwrap();
    assert!(!look.parent_span_id.is_empty(), "the look has a parent in the check-in's trace: {look:?}");

    // Log lines written in the check-in's spans name its trace.
    let logged = std::fs::read_to_string(&verification.log).unwrap_or_default();
    let line = logged
        .lines()
        .find(|line| line.contains("face check submitted"))
        .unwrap_or_else(|| panic!("verification-service logged no submission; {}", verification.log_tail()));
    assert!(line.starts_with(&format!(r#"{{"trace_id":"{trace_id}","span_id":""#)), "{line}");

    // The gateway got the trace context over HTTP.
    let (_, submits) = standin.journal_of("demo_student_1").await;
    let carried: Vec<_> = submits.iter().filter_map(|submit| submit.traceparent.as_deref()).collect();
    assert!(
        !carried.is_empty() && carried.iter().all(|sent| sent.split('-').nth(1) == Some(trace_id.as_str())),
        "the stand-in got traceparents {carried:?}, expected trace {trace_id}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_service_whose_collector_is_down_at_start_serves_and_exports_once_it_is_up() {
    // A port with nothing listening on it (yet).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let standin = Standin::start(Duration::from_millis(300)).await;
    let env = face_env(&standin, |_| {}).await;
    let verification = start_verification(&env, &standin, &endpoint).await;
    let attendance = start_attendance(&env, &standin, &verification, &endpoint).await;

    let clients = env.clients_of(attendance.addr).await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "No collector", 1, &[]).await.expect("calls succeed with no collector");
    let mut student = clients.demo_student(1).await;
    attend_with(&mut student, &session.attendance_id, &[]).await.expect("a check-in succeeds with no collector");

    // The collector comes up where the services were told it is: later
    // calls' spans arrive.
    let receiver = OtlpReceiver::start_on(format!("127.0.0.1:{port}").parse().unwrap()).await;
    let deadline = tokio::time::Instant::now() + TRACE_DEADLINE;
    loop {
        // A call each time round: spans from before the collector was up
        // may have been dropped, later ones must arrive.
        student
            .get_my_record(GetMyRecordRequest { attendance_id: session.attendance_id.clone() })
            .await
            .expect("the student reads their record");
        if receiver.spans().iter().any(|span| span.service == "attendance-service") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no span from attendance-service reached the collector {TRACE_DEADLINE:?} after it came up; log: {}",
            attendance.log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("after the collector came up:\n{}", listing(&receiver.spans()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rounds_look_at_a_face_job_is_in_the_check_ins_trace_and_links_to_the_round() {
    // No fast path: an operator's RunJob runs the rounds, each an exported
    // span in a trace of its own (the fast path's idle rounds are not).
    let traced = TracedCheckIn::start(&[("ATTN_FACE_POLL_INTERVAL_MS", "0")]).await;
    let traced = &traced;
    let admin = traced.clients.login("demo_admin", "password").await.unwrap();
    let channel = Endpoint::from_shared(traced.sweeper.url()).unwrap().connect().await.unwrap();
    let sweeper = SweeperServiceClient::with_interceptor(channel, bearer(&admin));
    attn_e2e::eventually(Duration::from_secs(30), "a RunJob round to collect the face verdict", || {
        let mut sweeper = sweeper.clone();
        async move {
            sweeper.run_job(RunJobRequest { name: "check_face_verification_results".into() }).await.ok()?;
            traced.verdict_landed().await.then_some(())
        }
    })
    .await;

    let look: [Expected; 1] =
        [("sweeper-service", |s| s.name == "check_face_verification_results job", "a round's look at the job")];
    let spans = traced.spans_of(&traced.trace_id, &look).await;
    let looks: Vec<&ReceivedSpan> =
        spans.iter().filter(|span| span.name == "check_face_verification_results job").collect();
    for look in &looks {
        assert!(
            look.links.len() == 1 && look.links[0] != traced.trace_id,
            "each look links to the round that made it, in another trace: {look:?}"
        );
    }
    let round_trace = looks[0].links[0].clone();
    let round: [Expected; 2] = [
        ("sweeper-service", |s| s.name.ends_with("/RunJob") && s.kind == "SPAN_KIND_SERVER", "the RunJob RPC"),
        ("sweeper-service", |s| s.name == "check_face_verification_results", "the round"),
    ];
    let round_spans = traced.spans_of(&round_trace, &round).await;
    println!(
        "check-in trace {}: {} look(s) at the job; the first links to round trace {round_trace}:\n{}",
        traced.trace_id,
        looks.len(),
        listing(&round_spans)
    );
}

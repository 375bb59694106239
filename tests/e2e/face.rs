//! Security option 3 end to end: the real services, the stand-in face
//! gateway over real HTTP, the sweeper's fast path carrying verdicts to
//! the record and to the student's live stream.

use std::time::Duration;

use attn_e2e::{Clients, Proxy, Standin, StudentClient, TestEnv, TestOptions, eventually};
use attn_proto::v1::{
    self as pb, AttendRequest, AttendanceState, FinishAttendanceRequest, GetMyRecordRequest, ListRecordsRequest,
    WatchMyRecordRequest,
};
use futures::StreamExt;
use sweeper_service::JobName;
use tonic::Code;

use crate::common::{assert_status, start, status_of};

pub(crate) const SELFIE: &[u8] = &face_gateway_standin::TINY_JPEG;

pub(crate) async fn face_env(standin: &Standin, adjust: impl FnOnce(&mut TestOptions)) -> TestEnv {
    let url = standin.url();
    let photos = standin.photos_url();
    TestEnv::start_with(move |opts| {
        opts.verification.face_gateway_url = url;
        opts.verification.face_retries = 1;
        opts.attendance.demo_photo_base_url = photos;
        adjust(opts);
    })
    .await
}

/// Adds students whose numbers choose the stand-in's outcome (e.g. `s_mismatch_1`).
pub(crate) async fn roster(env: &TestEnv, standin: &Standin, numbers: &[&str]) {
    let mut csv = String::from("school_number,full_name,role,photo_url,password\n");
    for number in numbers {
        csv.push_str(&format!("{number},Student {number},student,{}/{number}.jpg,password\n", standin.photos_url()));
    }
    let summary = attendance_service::import_roster(&env.archive, &csv, false).await.unwrap();
    assert_eq!(summary.rejected, 0);
}

pub(crate) async fn student(clients: &Clients, number: &str) -> StudentClient {
    let token = clients.login(number, "password").await.unwrap();
    clients.student(attn_e2e::bearer(&token))
}

pub(crate) async fn attend_with(
    student: &mut StudentClient,
    id: &str,
    selfie: &[u8],
) -> Result<pb::AttendanceRecord, tonic::Status> {
    Ok(student
        .attend(AttendRequest {
            attendance_id: id.into(),
            selfie: selfie.to_vec(),
            request_id: String::new(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .record
        .unwrap())
}

/// Follows the student's record until the stream ends; returns every state seen.
async fn watch_until_final(student: &mut StudentClient, id: &str) -> Vec<pb::AttendanceRecord> {
    let mut stream =
        student.watch_my_record(WatchMyRecordRequest { attendance_id: id.into() }).await.unwrap().into_inner();
    let mut seen = Vec::new();
    while let Some(message) = tokio::time::timeout(Duration::from_secs(30), stream.next()).await.expect("a verdict") {
        seen.push(message.unwrap().record.unwrap());
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_matching_face_is_attended_and_the_student_sees_it_live() {
    let standin = Standin::start(Duration::from_millis(300)).await;
    let env = face_env(&standin, |_| {}).await;
    let _sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let mut alice = clients.demo_student(1).await;

    let first = attend_with(&mut alice, &session.attendance_id, SELFIE).await.unwrap();
    assert_eq!(status_of(&first), pb::RecordStatus::Pending);
    assert_eq!(first.fail_reason, "FACE_RECOGNITION_PENDING");
    assert_status(attend_with(&mut alice, &session.attendance_id, SELFIE).await, Code::AlreadyExists, "pending");

    let seen = watch_until_final(&mut alice, &session.attendance_id).await;
    let last = seen.last().unwrap();
    assert_eq!(status_of(last), pb::RecordStatus::Attended, "{seen:?}");
    assert!(last.attendance_time.is_some());
    assert_eq!(last.fail_reason, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_face_that_does_not_match_fails_with_the_gateways_reason() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    let env = face_env(&standin, |_| {}).await;
    let _sweeper = env.start_sweeper().await;
    roster(&env, &standin, &["s_mismatch_1"]).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let mut mallory = student(&clients, "s_mismatch_1").await;
    attend_with(&mut mallory, &session.attendance_id, SELFIE).await.unwrap();
    let seen = watch_until_final(&mut mallory, &session.attendance_id).await;
    let last = seen.last().unwrap();
    assert_eq!(status_of(last), pb::RecordStatus::Failed);
    assert_eq!(last.fail_reason, format!("FACE_VERIFICATION_FAILED: {}", face_gateway_standin::MISMATCH_REASON));
    assert_eq!(last.fail_code(), pb::FailCode::FaceVerificationFailed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_or_missing_images_are_refused_plainly() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    let env = face_env(&standin, |opts| opts.attendance.selfie_max_bytes = 4096).await;
    roster(&env, &standin, &["s_nophoto_1"]).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let id = session.attendance_id.as_str();
    let mut bob = clients.demo_student(2).await;

    // No selfie: the seeds' reason, as a record the student can retry.
    let missing = attend_with(&mut bob, id, &[]).await.unwrap();
    assert_eq!(missing.fail_reason, "FACE_VERIFICATION_REQUIRED_BUT_IMAGES_MISSING");
    assert_eq!(missing.fail_code(), pb::FailCode::FaceVerificationRequiredButImagesMissing);
    // Too big, or not an image: the student can fix the request.
    let mut big = SELFIE.to_vec();
    big.resize(8192, 0);
    assert_status(attend_with(&mut bob, id, &big).await, Code::InvalidArgument, "selfie");
    assert_status(
        attend_with(&mut bob, id, b"just some text, named selfie.jpg").await,
        Code::InvalidArgument,
        "JPEG or PNG",
    );
    // A reference photo URL that leads nowhere.
    let mut no_photo = student(&clients, "s_nophoto_1").await;
    let record = attend_with(&mut no_photo, id, SELFIE).await.unwrap();
    assert_eq!(record.fail_reason, "REFERENCE_IMAGE_NOT_FOUND");
    assert_eq!(record.fail_code(), pb::FailCode::ReferenceImageNotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_student_with_no_reference_photo_gets_reference_image_not_found() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    // Demo students without photo URLs.
    let env = face_env(&standin, |opts| opts.attendance.demo_photo_base_url = String::new()).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let mut carol = clients.demo_student(3).await;
    let record = attend_with(&mut carol, &session.attendance_id, SELFIE).await.unwrap();
    assert_eq!(record.fail_reason, "REFERENCE_IMAGE_NOT_FOUND");
    assert_eq!(record.fail_code(), pb::FailCode::ReferenceImageNotFound);
    assert_eq!(status_of(&record), pb::RecordStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reference_photos_on_internal_addresses_get_reference_image_not_found() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    // Nothing allow-listed: the stand-in's photos on 127.0.0.1 are internal too.
    let env = face_env(&standin, |opts| opts.verification.face_photo_allowed_hosts = String::new()).await;
    // One roster entry on loopback (the stand-in would serve it), one
    // pointing at the cloud metadata service.
    let csv = format!(
        "school_number,full_name,role,photo_url,password\n\
         s_loopback_1,Student Loopback,student,{}/s_loopback_1.jpg,password\n\
         s_metadata_1,Student Metadata,student,http://169.254.169.254/latest/meta-data/iam/security-credentials/,password\n",
        standin.photos_url()
    );
    let summary = attendance_service::import_roster(&env.archive, &csv, false).await.unwrap();
    assert_eq!(summary.rejected, 0);
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    for number in ["s_loopback_1", "s_metadata_1"] {
        let mut mallory = student(&clients, number).await;
        let record = attend_with(&mut mallory, &session.attendance_id, SELFIE).await.unwrap();
        assert_eq!(record.fail_reason, "REFERENCE_IMAGE_NOT_FOUND", "{number}: {record:?}");
        assert_eq!(record.fail_code(), pb::FailCode::ReferenceImageNotFound, "{number}: {record:?}");
    }
    assert!(standin.submits().await.is_empty(), "nothing was sent to the gateway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_that_is_down_at_submit_fails_the_submission_and_a_retry_succeeds_once_it_is_up() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    let proxy = Proxy::start(standin.addr.to_string()).await;
    let gateway = format!("http://{}", proxy.addr());
    let env = TestEnv::start_with(|opts| {
        opts.verification.face_gateway_url = gateway;
        opts.verification.face_retries = 0;
        opts.attendance.demo_photo_base_url = standin.photos_url();
    })
    .await;
    let _sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let mut dave = clients.demo_student(4).await;

    proxy.cut();
    let record = attend_with(&mut dave, &session.attendance_id, SELFIE).await.unwrap();
    assert_eq!(record.fail_reason, "FACE_VERIFICATION_SUBMISSION_FAILED");
    assert_eq!(record.fail_code(), pb::FailCode::FaceVerificationSubmissionFailed);

    proxy.restore();
    let retried = attend_with(&mut dave, &session.attendance_id, SELFIE).await.unwrap();
    assert_eq!(status_of(&retried), pb::RecordStatus::Pending);
    let seen = watch_until_final(&mut dave, &session.attendance_id).await;
    assert_eq!(status_of(seen.last().unwrap()), pb::RecordStatus::Attended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_that_goes_away_while_polling_still_delivers_its_verdict_when_it_is_back() {
    let standin = Standin::start(Duration::from_millis(200)).await;
    let proxy = Proxy::start(standin.addr.to_string()).await;
    let gateway = format!("http://{}", proxy.addr());
    let env = TestEnv::start_with(|opts| {
        opts.verification.face_gateway_url = gateway;
        opts.verification.face_retries = 0;
        opts.attendance.demo_photo_base_url = standin.photos_url();
    })
    .await;
    let sweeper = env.start_sweeper_with(|config| config.face_poll_interval_ms = 0).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let mut erin = clients.demo_student(5).await;
    attend_with(&mut erin, &session.attendance_id, SELFIE).await.unwrap();

    proxy.cut();
    env.clock.advance(Duration::from_secs(1)); // the job falls due, without waiting for it
    let run = sweeper.jobs.run(JobName::CheckFaceVerificationResults).await.unwrap();
    assert_eq!(run.summary.count("gateway_errors"), 1, "{:?}", run.summary);
    let still = erin.get_my_record(GetMyRecordRequest { attendance_id: session.attendance_id.clone() }).await.unwrap();
    assert_eq!(status_of(&still.into_inner().record.unwrap()), pb::RecordStatus::Pending, "kept, not failed");

    proxy.restore();
    let record = eventually(Duration::from_secs(20), "the verdict after the gateway is back", || {
        let jobs = sweeper.jobs.clone();
        let mut erin = erin.clone();
        let id = session.attendance_id.clone();
        async move {
            jobs.run(JobName::CheckFaceVerificationResults).await.ok()?;
            let record = erin.get_my_record(GetMyRecordRequest { attendance_id: id }).await.ok()?.into_inner().record?;
            (status_of(&record) != pb::RecordStatus::Pending).then_some(record)
        }
    })
    .await;
    assert_eq!(status_of(&record), pb::RecordStatus::Attended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_gateway_answering_garbage_fails_the_check_in_after_a_bounded_number_of_tries() {
    let standin = Standin::start(Duration::from_millis(50)).await;
    let env = face_env(&standin, |_| {}).await;
    let _sweeper = env.start_sweeper_with(|config| config.face_max_errors = 2).await;
    roster(&env, &standin, &["s_garbage_1"]).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let mut frank = student(&clients, "s_garbage_1").await;
    attend_with(&mut frank, &session.attendance_id, SELFIE).await.unwrap();
    let seen = watch_until_final(&mut frank, &session.attendance_id).await;
    let last = seen.last().unwrap();
    assert_eq!(status_of(last), pb::RecordStatus::Failed);
    assert!(
        last.fail_reason
            .starts_with("FACE_VERIFICATION_FAILED: the face gateway could not give a result after 2 attempts"),
        "{last:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verdict_that_arrives_after_the_session_was_archived_updates_the_archive() {
    let standin = Standin::start(Duration::from_millis(100)).await;
    let env = face_env(&standin, |_| {}).await;
    let sweeper = env
        .start_sweeper_with(|config| {
            config.sweep_grace_secs = 0;
            config.face_poll_interval_ms = 0;
        })
        .await;
    roster(&env, &standin, &["s_slow_1"]).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let id = session.attendance_id.clone();
    let mut grace = student(&clients, "s_slow_1").await;
    attend_with(&mut grace, &id, SELFIE).await.unwrap();
    teacher.finish_attendance(FinishAttendanceRequest { attendance_id: id.clone() }).await.unwrap();
    let run = sweeper.jobs.run(JobName::SweepAttendances).await.unwrap();
    assert_eq!(run.summary.count("sessions_archived"), 1, "{:?}", run.summary);

    // The slow job (3 s in these tests) finishes after the archive.
    let record = eventually(Duration::from_secs(20), "the late verdict", || {
        let jobs = sweeper.jobs.clone();
        let mut teacher = teacher.clone();
        let id = id.clone();
        async move {
            jobs.run(JobName::CheckFaceVerificationResults).await.ok()?;
            let listed = teacher.list_records(ListRecordsRequest { attendance_id: id }).await.ok()?.into_inner();
            assert_eq!(listed.attendance.as_ref()?.state(), AttendanceState::Archived);
            let record = listed.records.into_iter().next()?;
            (status_of(&record) != pb::RecordStatus::Pending).then_some(record)
        }
    })
    .await;
    assert_eq!(status_of(&record), pb::RecordStatus::Attended);
    let audited: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'face_check_result' AND student_number = 's_slow_1'",
    )
    .fetch_one(env.archive.pool())
    .await
    .unwrap();
    assert_eq!(audited, 1);
}

/// One fast-path round of `check_face_verification_results`, as the test saw it.
#[derive(Debug, Clone)]
struct Round {
    started_ms: i64,
    /// Whether it failed as a whole (its due jobs wait for the next round);
    /// `None` if the test never saw it finish.
    failed: Option<bool>,
}

/// Notes every round the sweeper's fast path starts, from its in-process
/// job state (what ListJobs shows), until `stop` trips. It looks every
/// 5 ms, ten times as often as rounds can start; a round it misses only
/// makes the count it is used for smaller, never a test fail.
async fn note_rounds(jobs: std::sync::Arc<sweeper_service::Jobs>, stop: attn_runtime::Shutdown) -> (Vec<Round>, u64) {
    let mut rounds: Vec<Round> = Vec::new();
    loop {
        let stopping = stop.is_triggered();
        let (_, state) =
            jobs.list().into_iter().find(|(job, _)| *job == JobName::CheckFaceVerificationResults).unwrap();
        if let Some(run) = state.last_run {
            let started_ms = run.started_at.timestamp_millis();
            if rounds.last().is_none_or(|last| last.started_ms != started_ms) {
                rounds.push(Round { started_ms, failed: None });
            }
            if run.finished_at.is_some() {
                rounds.last_mut().unwrap().failed = Some(run.summary.error.is_some());
            }
        }
        if stopping {
            return (rounds, state.runs);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn millis(time: &prost_types::Timestamp) -> i64 {
    time.seconds * 1000 + i64::from(time.nanos) / 1_000_000
}

/// "Soon" in what the system guarantees, not in milliseconds of a machine
/// that may stall: a pending job is looked at again at most
/// `next_poll_delay_ms(age)` after its last look (100 ms while young), the
/// fast path starts a round at most once per `ATTN_FACE_POLL_INTERVAL_MS`
/// (100 ms), and the first round after a job falls due delivers its verdict.
/// So after the gateway finishes a job, at most `delay / interval + 2` rounds
/// start before the job falls due again (rounds are sequential, each after a
/// tick at least `interval` after the last), then the delivering one, plus
/// one per round that failed as a whole: a verdict that sat through more
/// rounds is late however fast or slow the machine. Every timeout on the way
/// is a minute here, so a stall cannot turn into an error that would make a
/// job wait out a retry delay. The latency figures are printed, not judged.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_students_checking_in_at_once_all_get_a_verdict_within_a_few_rounds_after_the_gateway_has_it() {
    const POLL_INTERVAL_MS: u64 = 100;
    const STALL_PROOF_TIMEOUT_MS: u64 = 60_000;
    let standin = Standin::start(Duration::from_millis(300)).await;
    let env = face_env(&standin, |opts| {
        opts.verification.face_timeout_ms = STALL_PROOF_TIMEOUT_MS;
        opts.attendance.verification_timeout_ms = STALL_PROOF_TIMEOUT_MS;
        opts.attendance.redis.redis_timeout_ms = STALL_PROOF_TIMEOUT_MS;
    })
    .await;
    let sweeper = env
        .start_sweeper_with(|config| {
            config.face_poll_interval_ms = POLL_INTERVAL_MS;
            config.verification_timeout_ms = STALL_PROOF_TIMEOUT_MS;
            config.redis.redis_timeout_ms = STALL_PROOF_TIMEOUT_MS;
        })
        .await;
    let stop_noting = attn_runtime::Shutdown::new();
    let noting = tokio::spawn(note_rounds(sweeper.jobs.clone(), stop_noting.clone()));
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start(&mut teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap();
    let id = session.attendance_id.clone();

    // Signed in a few at a time (the claim is about checking in at once;
    // a hundred password hashes at once can outlast the server's request
    // timeout on a busy two-core machine).
    let students: Vec<_> = futures::stream::iter(1..=100)
        .map(|n| {
            let clients = clients.clone();
            async move { (n, clients.demo_student(n).await) }
        })
        .buffered(8)
        .collect()
        .await;
    let finals = futures::future::join_all(students.into_iter().map(|(n, mut student)| {
        let id = id.clone();
        async move {
            let sent_ms = crate::common::now_ms();
            let first = attend_with(&mut student, &id, SELFIE).await.unwrap();
            assert_eq!(status_of(&first), pb::RecordStatus::Pending);
            let seen = watch_until_final(&mut student, &id).await;
            (format!("demo_student_{n}"), sent_ms, seen.last().cloned().unwrap())
        }
    }))
    .await;
    stop_noting.trigger();
    let (rounds, runs) = noting.await.unwrap();
    assert_eq!(finals.len(), 100);
    assert!(finals.iter().all(|(_, _, r)| status_of(r) == pb::RecordStatus::Attended), "{finals:?}");

    let journal = standin.journal().await;
    let mut delays = Vec::new();
    let mut most_rounds = 0;
    for (number, sent_ms, record) in &finals {
        let finished = journal.iter().find(|e| &e.student_school_number == number).unwrap().finished_at_ms;
        let changed = millis(record.attendance_time.as_ref().unwrap());
        assert!(changed >= finished, "{number}'s verdict landed before the gateway had it: {changed} < {finished}");
        delays.push(changed - finished);
        // The job was at most this old at its last look before the verdict.
        let delay = attn_domain::face::next_poll_delay_ms(changed - sent_ms) as u64;
        let after: Vec<&Round> = rounds.iter().filter(|r| r.started_ms > finished && r.started_ms <= changed).collect();
        let failed = after.iter().filter(|r| r.failed != Some(false)).count();
        let bound = (delay / POLL_INTERVAL_MS) as usize + 3 + failed;
        assert!(
            after.len() <= bound,
            "{number}'s verdict came {} rounds after the gateway had it (at most {bound}: next look within \
             {delay} ms, a round per {POLL_INTERVAL_MS} ms, {failed} failed): {after:?}",
            after.len()
        );
        most_rounds = most_rounds.max(after.len());
    }
    delays.sort_unstable();
    println!(
        "face verdict latency over 100 students (gateway finished -> record changed): median {} ms, worst {} ms; \
         at most {most_rounds} fast-path rounds started in between ({} rounds noted of {runs} run)",
        delays[49],
        delays[99],
        rounds.len()
    );
}

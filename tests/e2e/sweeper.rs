//! sweeper-service against real Redis and PostgreSQL: archiving is complete,
//! idempotent, replica-safe, loses no racing write, survives bad data and a
//! PostgreSQL outage; expired sign-ins become history.

use std::{collections::HashMap, time::Duration};

use attn_domain::Record;
use attn_e2e::{Proxy, TeacherClient, TestEnv, bearer, eventually, postgres_server};
use attn_proto::v1::{
    self as pb, AcceptStudentRequest, AttendanceState, FailStudentRequest, FinishAttendanceRequest, ListJobsRequest,
    ListRecordsRequest, RunJobRequest, sweeper_service_client::SweeperServiceClient,
};
use fred::interfaces::{HashesInterface, KeysInterface, SortedSetsInterface};
use secrecy::ExposeSecret;
use sweeper_service::JobName;
use tonic::{Code, transport::Endpoint};
use uuid::Uuid;

use crate::common::start;

/// A finished session with `students` records, written through the same
/// check-in script the service uses (signing 500 students in one by one
/// would only test argon2).
async fn finished_session(env: &TestEnv, teacher: &mut TeacherClient, lesson: &str, students: usize) -> Uuid {
    let session = start(teacher, lesson, 1, &[]).await.unwrap();
    let id: Uuid = session.attendance_id.parse().unwrap();
    let now = chrono_now();
    for n in 1..=students {
        let record = Record::attended(&format!("demo_student_{n}"), &format!("Demo Student {n}"), now);
        env.live.attend(id, &record, None, now, 0).await.unwrap();
    }
    teacher.finish_attendance(FinishAttendanceRequest { attendance_id: id.to_string() }).await.unwrap();
    id
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

async fn records_of(teacher: &mut TeacherClient, id: Uuid) -> pb::ListRecordsResponse {
    teacher.list_records(ListRecordsRequest { attendance_id: id.to_string() }).await.unwrap().into_inner()
}

async fn still_in_redis(env: &TestEnv, id: Uuid) -> bool {
    let keys = env.live.keys();
    let exists: i64 = env.live.pool().exists(keys.meta(id)).await.unwrap();
    let shard = attn_store::keys::shard_of_session(id);
    let indexed: Option<f64> = env.live.pool().zscore(keys.ending(shard), id.to_string()).await.unwrap();
    exists == 1 || indexed.is_some()
}

async fn admin_sweeper(
    env: &TestEnv,
    addr: std::net::SocketAddr,
) -> SweeperServiceClient<tonic::service::interceptor::InterceptedService<tonic::transport::Channel, attn_e2e::Bearer>>
{
    let clients = env.clients().await;
    let token = clients.login("demo_admin", "password").await.unwrap();
    let channel = Endpoint::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
    SweeperServiceClient::with_interceptor(channel, bearer(&token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_finished_session_of_500_records_is_archived_completely_and_leaves_nothing_in_redis() {
    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = finished_session(&env, &mut teacher, "Thermodynamics", 500).await;
    // A name with quotes and a comma: the archive's COPY must carry it intact.
    let tricky = Record::added_by_teacher("zz_guest", "Zoë \"Z\" O'Neil, Jr.", true, "", chrono_now());
    env.live.write_record(id, None, &tricky, None, None).await.unwrap();
    let before = records_of(&mut teacher, id).await;
    assert_eq!(before.records.len(), 501);
    assert_eq!(before.attendance.as_ref().unwrap().state(), AttendanceState::Ended);

    let mut operator = admin_sweeper(&env, sweeper.addr).await;
    let run =
        operator.run_job(RunJobRequest { name: "sweep_attendances".into() }).await.unwrap().into_inner().run.unwrap();
    assert_eq!(run.outcome, pb::JobOutcome::Succeeded as i32, "{run:?}");
    assert_eq!(run.counts.get("sessions_archived"), Some(&1));
    assert_eq!(run.counts.get("records_written"), Some(&501));
    assert!(!still_in_redis(&env, id).await, "the session's keys and index entries are gone");

    let after = records_of(&mut teacher, id).await;
    assert_eq!(after.attendance.as_ref().unwrap().state(), AttendanceState::Archived);
    assert_eq!(after.records, before.records, "the same roster before and after archiving");

    // Running again changes nothing.
    let again =
        operator.run_job(RunJobRequest { name: "sweep_attendances".into() }).await.unwrap().into_inner().run.unwrap();
    assert_eq!(again.counts.get("sessions_archived"), None, "{again:?}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM attendance_records WHERE attendance_id = $1")
        .bind(id)
        .fetch_one(env.archive.pool())
        .await
        .unwrap();
    assert_eq!(rows, 501);

    // Operators see both runs.
    let jobs = operator.list_jobs(ListJobsRequest {}).await.unwrap().into_inner().jobs;
    let sweep = jobs.iter().find(|j| j.name == "sweep_attendances").unwrap();
    assert_eq!(sweep.runs, 2);
    assert_eq!(sweep.schedule, "0 * * * * *");
    let schedule_of = |name: &str| jobs.iter().find(|j| j.name == name).map(|j| j.schedule.as_str());
    assert_eq!(schedule_of("sweep_users"), Some("30 * * * * *"));
    assert_eq!(schedule_of("check_face_verification_results"), Some("15 * * * * *"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn run_job_needs_an_operator_and_a_known_job_name() {
    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let mut operator = admin_sweeper(&env, sweeper.addr).await;
    let unknown = operator.run_job(RunJobRequest { name: "sweep_everything".into() }).await.unwrap_err();
    assert_eq!(unknown.code(), Code::InvalidArgument);
    assert!(unknown.message().contains("sweep_attendances"), "{}", unknown.message());

    let clients = env.clients().await;
    let token = clients.login("demo_teacher_1", "password").await.unwrap();
    let channel = Endpoint::from_shared(format!("http://{}", sweeper.addr)).unwrap().connect().await.unwrap();
    let mut as_teacher = SweeperServiceClient::with_interceptor(channel.clone(), bearer(&token));
    let denied = as_teacher.list_jobs(ListJobsRequest {}).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    let mut anonymous = SweeperServiceClient::new(channel);
    assert_eq!(anonymous.list_jobs(ListJobsRequest {}).await.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweepers_at_once_archive_each_session_exactly_once() {
    let env = TestEnv::start().await;
    let first = env.start_sweeper().await;
    let second = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut ids = Vec::new();
    for t in 1..=3 {
        let mut teacher = clients.demo_teacher(t).await;
        ids.push(finished_session(&env, &mut teacher, &format!("Lesson {t}"), 40).await);
    }

    // Through the lease: one replica runs, the other is told it is busy or finds nothing.
    let (a, b) = tokio::join!(first.jobs.run(JobName::SweepAttendances), second.jobs.run(JobName::SweepAttendances));
    let archived: u64 =
        [a, b].into_iter().filter_map(Result::ok).map(|run| run.summary.count("sessions_archived")).sum();
    assert_eq!(archived, 3);
    for id in &ids {
        assert!(!still_in_redis(&env, *id).await);
    }

    // Without the lease (its second line of defence): upserts and the
    // compare-and-set removal still leave exactly one copy.
    let mut teacher = clients.demo_teacher(4).await;
    let id = finished_session(&env, &mut teacher, "Lesson 4", 40).await;
    let (a, b) = tokio::join!(first.sweep_attendances(), second.sweep_attendances());
    assert!(a.error.is_none() && b.error.is_none(), "{a:?} {b:?}");
    assert!(a.count("sessions_archived") + b.count("sessions_archived") >= 1);
    assert!(!still_in_redis(&env, id).await);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM attendance_records WHERE attendance_id = $1")
        .bind(id)
        .fetch_one(env.archive.pool())
        .await
        .unwrap();
    assert_eq!(rows, 40);
    let audits: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE attendance_id = $1")
        .bind(id)
        .fetch_one(env.archive.pool())
        .await
        .unwrap();
    assert_eq!(audits, 1, "the finish, once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn teacher_edits_racing_the_sweep_all_end_up_in_postgres() {
    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = finished_session(&env, &mut teacher, "Race Conditions 101", 30).await;

    // The teacher keeps editing while the sweeper keeps archiving; every
    // twenty edits the editor waits for another sweep round, so edits land
    // before, during and after the archive.
    let (rounds_done, rounds_seen) = tokio::sync::watch::channel(0usize);
    let editor = {
        let mut teacher = teacher.clone();
        let mut rounds_seen = rounds_seen.clone();
        tokio::spawn(async move {
            let mut expected: HashMap<String, (bool, String)> = HashMap::new();
            for i in 0..80 {
                if i > 0 && i % 20 == 0 {
                    let seen = *rounds_seen.borrow_and_update();
                    rounds_seen.wait_for(|done| *done > seen).await.unwrap();
                }
                let student = format!("demo_student_{}", i % 30 + 1);
                if i % 2 == 0 {
                    let reason = format!("edit {i}");
                    teacher
                        .fail_student(FailStudentRequest {
                            attendance_id: id.to_string(),
                            student_number: student.clone(),
                            reason: reason.clone(),
                        })
                        .await
                        .unwrap();
                    expected.insert(student, (false, reason));
                } else {
                    teacher
                        .accept_student(AcceptStudentRequest {
                            attendance_id: id.to_string(),
                            student_number: student.clone(),
                        })
                        .await
                        .unwrap();
                    expected.insert(student, (true, String::new()));
                }
            }
            expected
        })
    };
    let mut rounds = 0;
    while !editor.is_finished() {
        let summary = sweeper.sweep_attendances().await;
        assert!(summary.error.is_none() && summary.failures.is_empty(), "{summary:?}");
        rounds += 1;
        rounds_done.send_replace(rounds);
    }
    let expected = editor.await.unwrap();
    eventually(Duration::from_secs(20), "the session to leave Redis", || async {
        sweeper.sweep_attendances().await;
        (!still_in_redis(&env, id).await).then_some(())
    })
    .await;
    assert!(rounds >= 3, "the sweep ran while the edits were landing");

    let archived = records_of(&mut teacher, id).await;
    assert_eq!(archived.attendance.unwrap().state(), AttendanceState::Archived);
    for record in &archived.records {
        if let Some((attended, reason)) = expected.get(&record.student_number) {
            assert_eq!(record.is_attended, *attended, "{record:?}");
            assert_eq!(&record.fail_reason, reason, "{record:?}");
        }
    }
    let edits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE attendance_id = $1 AND action IN ('fail_student', 'accept_student')",
    )
    .bind(id)
    .fetch_one(env.archive.pool())
    .await
    .unwrap();
    assert_eq!(edits, 80, "every edit is in the audit trail exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_session_with_an_unreadable_record_does_not_block_the_others() {
    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut broken_teacher = clients.demo_teacher(1).await;
    let broken = finished_session(&env, &mut broken_teacher, "Broken", 5).await;
    let mut good_teacher = clients.demo_teacher(2).await;
    let good = finished_session(&env, &mut good_teacher, "Fine", 5).await;
    let _: i64 = env.live.pool().hset(env.live.keys().records(broken), ("demo_student_99", "{not json")).await.unwrap();

    let run = sweeper.jobs.run(JobName::SweepAttendances).await.unwrap();
    let summary = &run.summary;
    assert_eq!(summary.count("sessions_archived"), 1, "{summary:?}");
    assert_eq!(summary.count("failures"), 1);
    assert!(summary.failures[0].contains(&broken.to_string()), "{summary:?}");
    assert!(summary.failures[0].contains("demo_student_99"), "{summary:?}");
    assert!(still_in_redis(&env, broken).await, "kept for the next round, nothing lost");
    assert!(!still_in_redis(&env, good).await);

    // Once someone repairs the record, the next round archives it.
    let repaired = Record::attended("demo_student_99", "Demo Student 99", chrono_now());
    let _: i64 =
        env.live.pool().hset(env.live.keys().records(broken), ("demo_student_99", repaired.to_json())).await.unwrap();
    let run = sweeper.jobs.run(JobName::SweepAttendances).await.unwrap();
    assert_eq!(run.summary.count("sessions_archived"), 1, "{:?}", run.summary);
    assert_eq!(records_of(&mut broken_teacher, broken).await.records.len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_going_away_mid_run_loses_nothing() {
    let env = TestEnv::start().await;
    let proxy = Proxy::start(postgres_server()).await;
    let database_url = proxy.reroute(&env.database_url);
    let sweeper = env
        .start_sweeper_with(|config| {
            config.database.database_url = database_url.into();
            config.database.database_timeout_ms = 500;
        })
        .await;
    let clients = env.clients().await;
    let mut ids = Vec::new();
    for t in 1..=2 {
        let mut teacher = clients.demo_teacher(t).await;
        ids.push(finished_session(&env, &mut teacher, &format!("Outage {t}"), 20).await);
    }

    proxy.cut();
    let run = sweeper.jobs.run(JobName::SweepAttendances).await.unwrap();
    assert!(run.summary.error.as_deref().unwrap_or_default().contains("PostgreSQL"), "{:?}", run.summary);
    for id in &ids {
        assert!(still_in_redis(&env, *id).await, "nothing is removed from Redis while PostgreSQL is down");
    }

    proxy.restore();
    let run = eventually(Duration::from_secs(20), "a round after PostgreSQL is back", || async {
        let run = sweeper.jobs.run(JobName::SweepAttendances).await.ok()?;
        (run.summary.error.is_none()).then_some(run)
    })
    .await;
    assert_eq!(run.summary.count("sessions_archived"), 2, "{:?}", run.summary);
    for id in &ids {
        assert!(!still_in_redis(&env, *id).await);
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM attendance_records WHERE attendance_id = $1")
            .bind(id)
            .fetch_one(env.archive.pool())
            .await
            .unwrap();
        assert_eq!(rows, 20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expired_and_logged_out_sign_ins_become_sign_in_history() {
    let env = TestEnv::start_with(|opts| opts.attendance.student_token_ttl_secs = 1).await;
    let sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    // Out before the other signs in: the logout must not race a one-second sign-in.
    let leaving = clients.login("demo_student_2", "password").await.unwrap();
    clients.auth(bearer(&leaving)).logout(pb::LogoutRequest {}).await.unwrap();
    let expiring = clients.login("demo_student_1", "password").await.unwrap();
    // The first token stops working by itself.
    eventually(Duration::from_secs(10), "the student token to expire", || {
        let mut auth = clients.auth(bearer(&expiring));
        async move {
            auth.who_am_i(pb::WhoAmIRequest {})
                .await
                .err()
                .map(|status| assert_eq!(status.code(), Code::Unauthenticated))
        }
    })
    .await;

    let run = sweeper.jobs.run(JobName::SweepUsers).await.unwrap();
    assert_eq!(run.summary.count("history_rows_written"), 2, "{:?}", run.summary);
    assert_eq!(run.summary.count("logouts"), 1);
    let history: Vec<(String, String)> =
        sqlx::query_as("SELECT school_number, ended_by FROM login_history ORDER BY school_number")
            .fetch_all(env.archive.pool())
            .await
            .unwrap();
    assert_eq!(
        history,
        vec![
            ("demo_student_1".to_string(), "expiry".to_string()),
            ("demo_student_2".to_string(), "logout".to_string()),
        ]
    );
    for shard in 0..attn_store::keys::SHARDS {
        let left: i64 = env.live.pool().zcard(env.live.keys().logins(shard)).await.unwrap();
        assert_eq!(left, 0, "archived sign-ins leave the index (shard {shard})");
    }
    let again = sweeper.jobs.run(JobName::SweepUsers).await.unwrap();
    assert_eq!(again.summary.count("history_rows_written"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_edit_between_the_archives_read_and_its_removal_keeps_the_session_for_the_next_round() {
    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = finished_session(&env, &mut teacher, "Between the lines", 3).await;

    // The sweeper's steps, with a teacher's edit landing in the middle.
    let snapshot = env.live.snapshot(id).await.unwrap().unwrap();
    teacher
        .fail_student(FailStudentRequest {
            attendance_id: id.to_string(),
            student_number: "demo_student_2".into(),
            reason: "arrived at the end".into(),
        })
        .await
        .unwrap();
    let audit = env.live.audit_entries(id).await.unwrap();
    env.archive
        .archive_session(attn_store::archive::SessionToArchive {
            meta: &snapshot.meta,
            version: snapshot.version,
            records: &snapshot.records,
            enrolled: &snapshot.enrolled,
            audit: &audit,
        })
        .await
        .unwrap();
    let removal = env.live.remove_archived(id, snapshot.version).await.unwrap();
    assert_eq!(removal, attn_store::live::RemoveOutcome::Changed);
    assert!(still_in_redis(&env, id).await);

    // The next round archives the edit too.
    let run = sweeper.jobs.run(JobName::SweepAttendances).await.unwrap();
    assert_eq!(run.summary.count("sessions_archived"), 1, "{:?}", run.summary);
    let archived = records_of(&mut teacher, id).await;
    let two = archived.records.iter().find(|r| r.student_number == "demo_student_2").unwrap();
    assert_eq!(two.fail_reason, "arrived at the end");
    assert_eq!(archived.attendance.unwrap().state(), AttendanceState::Archived);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_going_away_fails_the_round_cleanly_and_the_next_round_archives_everything() {
    let env = TestEnv::start().await;
    let proxy = Proxy::start(attn_e2e::redis_server()).await;
    let redis_url = proxy.reroute(env.redis_settings().url.expose_secret());
    let sweeper = env
        .start_sweeper_with(|config| {
            config.redis.redis_url = redis_url.into();
            config.redis.redis_timeout_ms = 500;
        })
        .await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = finished_session(&env, &mut teacher, "Outage", 10).await;

    proxy.cut();
    let run = sweeper.jobs.run(JobName::SweepAttendances).await.unwrap();
    assert!(run.summary.error.as_deref().unwrap_or_default().contains("Redis"), "{:?}", run.summary);
    assert!(still_in_redis(&env, id).await);

    proxy.restore();
    let run = eventually(Duration::from_secs(20), "a round after Redis is back", || async {
        let run = sweeper.jobs.run(JobName::SweepAttendances).await.ok()?;
        (run.summary.error.is_none() && run.summary.count("sessions_archived") == 1).then_some(run)
    })
    .await;
    assert_eq!(run.summary.count("records_written"), 10);
    assert!(!still_in_redis(&env, id).await);
}

/// The cause of a round that could not start for a minute after Redis came
/// back: an attempt to take the lease timed out during the outage, was sent
/// again after the reconnect, and left the lease in this replica's own name
/// with nobody renewing it. A leftover in our name is ours to take.
#[tokio::test]
async fn a_lease_left_in_this_replicas_name_does_not_lock_the_job() {
    use fred::interfaces::KeysInterface;

    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = finished_session(&env, &mut teacher, "Leftover lease", 3).await;
    let key = env.live.keys().job_lease(JobName::SweepAttendances.as_str());
    let expiry = Some(fred::types::Expiration::PX(60_000));
    let _: () = env.live.pool().set(&key, sweeper.jobs.replica(), expiry.clone(), None, false).await.unwrap();

    let run = sweeper.jobs.run(JobName::SweepAttendances).await.expect("the leftover does not make the job busy");
    assert_eq!(run.summary.count("sessions_archived"), 1, "{:?}", run.summary);
    assert!(!still_in_redis(&env, id).await);
    let held: Option<String> = env.live.pool().get(&key).await.unwrap();
    assert_eq!(held, None, "released after the round");

    // Another replica's lease still makes it busy.
    let _: () = env.live.pool().set(&key, "another-replica", expiry, None, false).await.unwrap();
    assert!(sweeper.jobs.run(JobName::SweepAttendances).await.is_err());
}

/// A Redis failover, or a sweeper that lost its lease mid-round, can bring
/// an older snapshot to the archive after a newer one: it must not win.
#[tokio::test]
async fn an_older_snapshot_archived_after_a_newer_one_changes_nothing() {
    use attn_store::archive::{Archived, SessionToArchive};

    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = finished_session(&env, &mut teacher, "Failover", 2).await;
    let snapshot = env.live.snapshot(id).await.unwrap().unwrap();
    let pending = Record::pending_face_check("demo_student_1", "Demo Student 1", "job-1");
    let verified = pending.face_verified(chrono_now());
    let with = |record: &Record| {
        let mut records = snapshot.records.clone();
        records[0] = record.clone();
        records
    };
    let (older, newer) = (with(&pending), with(&verified));
    let archive = |version, records: &[Record]| {
        let meta = snapshot.meta.clone();
        let records = records.to_vec();
        let archive = env.archive.clone();
        async move {
            archive
                .archive_session(SessionToArchive {
                    meta: &meta,
                    version,
                    records: &records,
                    enrolled: &[],
                    audit: &[],
                })
                .await
        }
    };

    // The face verdict at version 6 first, then the pending record of version 5.
    assert_eq!(archive(6, &newer).await.unwrap(), Archived::Written(2));
    assert_eq!(archive(5, &older).await.unwrap(), Archived::Stale);
    let one = env.archive.record(id, "demo_student_1").await.unwrap().unwrap();
    assert!(one.is_attended, "the verdict survives: {one:?}");
    // The same version again is no news either; a newer one is.
    assert_eq!(archive(6, &older).await.unwrap(), Archived::Stale);
    assert_eq!(archive(7, &older).await.unwrap(), Archived::Written(2));
    assert!(!env.archive.record(id, "demo_student_1").await.unwrap().unwrap().is_attended);

    // An edit of the archive moves past every snapshot read before it.
    env.live.remove_archived(id, snapshot.version).await.unwrap();
    let students: Vec<String> = snapshot.records.iter().map(|r| r.student_number.clone()).collect();
    env.live.unindex(id, &snapshot.meta.teacher_school_number, &students).await.unwrap();
    teacher
        .accept_student(AcceptStudentRequest { attendance_id: id.to_string(), student_number: "demo_student_1".into() })
        .await
        .unwrap();
    assert_eq!(archive(8, &older).await.unwrap(), Archived::Stale, "version 8 was read before the edit (7 + 1)");
    assert!(env.archive.record(id, "demo_student_1").await.unwrap().unwrap().is_attended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_round_whose_lease_is_lost_stops_before_committing() {
    use fred::interfaces::KeysInterface;

    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = finished_session(&env, &mut teacher, "Lost lease", 5).await;

    let (lease, key) = sweeper.own_lease_and_key(Duration::from_millis(600)).await;
    let guard = lease.guard();
    // Another replica takes the key (as after an expiry during a pause); by
    // its name, not by a scan, which a pause past 600 ms would find empty.
    let _: () = env.live.pool().set(&key, "another-replica", None, None, false).await.unwrap();
    eventually(Duration::from_secs(5), "the renewer to notice", || async { guard.check().err() }).await;

    let summary = sweeper_service::jobs::sweep_attendances(&sweeper.jobs.deps, &guard).await;
    assert!(summary.error.as_deref().unwrap_or_default().contains("lease was lost"), "{summary:?}");
    assert_eq!(summary.count("sessions_archived"), 0);
    assert!(still_in_redis(&env, id).await);
    assert!(env.archive.attendance(id).await.unwrap().is_none(), "nothing was committed");
    drop(lease);

    // A round that holds its lease archives it.
    let summary = sweeper.sweep_attendances().await;
    assert_eq!(summary.count("sessions_archived"), 1, "{summary:?}");
}

/// Two sweepers whose leases overlap (each holds a lease of its own), both
/// sweeping while a teacher's edits race them: every edit's final state
/// ends up in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_sweepers_with_overlapping_leases_and_200_racing_edits_lose_nothing() {
    const STUDENTS: usize = 20;
    const EDITS_EACH: usize = 10;
    let env = TestEnv::start().await;
    let first = env.start_sweeper().await;
    let second = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = finished_session(&env, &mut teacher, "Overlap", STUDENTS).await;

    // One editor per student, so each student's last edit is well defined.
    let editors: Vec<_> = (1..=STUDENTS)
        .map(|n| {
            let mut teacher = teacher.clone();
            tokio::spawn(async move {
                let student = format!("demo_student_{n}");
                let mut last = (true, String::new());
                for i in 0..EDITS_EACH {
                    if (i + n) % 2 == 0 {
                        let reason = format!("edit {i} of {student}");
                        let request = FailStudentRequest {
                            attendance_id: id.to_string(),
                            student_number: student.clone(),
                            reason: reason.clone(),
                        };
                        teacher.fail_student(request).await.unwrap();
                        last = (false, reason);
                    } else {
                        let request =
                            AcceptStudentRequest { attendance_id: id.to_string(), student_number: student.clone() };
                        teacher.accept_student(request).await.unwrap();
                        last = (true, String::new());
                    }
                }
                (student, last)
            })
        })
        .collect();
    let editing_done = std::sync::atomic::AtomicBool::new(false);
    let collect = async {
        let mut expected = HashMap::new();
        for editor in editors {
            let (student, last) = editor.await.unwrap();
            expected.insert(student, last);
        }
        editing_done.store(true, std::sync::atomic::Ordering::SeqCst);
        expected
    };
    let ((first_archived, second_archived), expected) = tokio::join!(
        async {
            tokio::join!(
                sweep_until_done(&env, &first, id, &editing_done),
                sweep_until_done(&env, &second, id, &editing_done)
            )
        },
        collect
    );
    assert!(first_archived + second_archived >= 1);

    let archived = records_of(&mut teacher, id).await;
    assert_eq!(archived.attendance.unwrap().state(), AttendanceState::Archived);
    assert_eq!(archived.records.len(), STUDENTS);
    for record in &archived.records {
        let (attended, reason) = &expected[&record.student_number];
        assert_eq!((record.is_attended, &record.fail_reason), (*attended, reason), "{record:?}");
    }
    let edits: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE attendance_id = $1 AND action IN ('fail_student', 'accept_student')",
    )
    .bind(id)
    .fetch_one(env.archive.pool())
    .await
    .unwrap();
    assert_eq!(edits, (STUDENTS * EDITS_EACH) as i64, "every edit is in the audit trail exactly once");
}

/// Sweeps under the replica's own lease until `editing_done` and the session
/// has left Redis; the sessions this replica archived.
async fn sweep_until_done(
    env: &TestEnv,
    replica: &attn_e2e::SweeperReplica,
    id: Uuid,
    editing_done: &std::sync::atomic::AtomicBool,
) -> u64 {
    let lease = replica.own_lease(Duration::from_secs(120)).await;
    let mut archived = 0;
    loop {
        let finished = editing_done.load(std::sync::atomic::Ordering::SeqCst);
        let summary = sweeper_service::jobs::sweep_attendances(&replica.jobs.deps, &lease.guard()).await;
        assert!(summary.error.is_none() && summary.failures.is_empty(), "{summary:?}");
        archived += summary.count("sessions_archived");
        if finished && !still_in_redis(env, id).await {
            return archived;
        }
    }
}

/// The cron wiring itself (tokio-cron-scheduler over `schedules(&config)`),
/// which every other test leaves off to run rounds by hand: a sweeper with
/// its scheduler on, every job every second and the face fast path off,
/// while the test runs no round itself. Each job's work getting done — an
/// ended session archived, a logout written to the sign-in history, a face
/// verdict carried to its record — and each job's run count in ListJobs
/// can then only come from the scheduler. The deadline bounds a failure
/// (a scheduler that never fires); it is no claim about speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_scheduler_on_every_job_runs_on_its_cron_schedule() {
    const EVERY_SECOND: &str = "* * * * * *";
    const FAILURE_BOUND: Duration = Duration::from_secs(90);

    let standin = attn_e2e::Standin::start(Duration::from_millis(100)).await;
    let env = crate::face::face_env(&standin, |_| {}).await;
    let sweeper = env
        .start_sweeper_with(|config| {
            config.scheduler_enabled = true;
            config.sweep_attendances_schedule = EVERY_SECOND.into();
            config.sweep_users_schedule = EVERY_SECOND.into();
            config.check_face_results_schedule = EVERY_SECOND.into();
            // Only the scheduler may run check_face_verification_results.
            config.face_poll_interval_ms = 0;
        })
        .await;
    let clients = env.clients().await;

    // sweep_attendances: an ended session.
    let mut teacher = clients.demo_teacher(1).await;
    let ended = finished_session(&env, &mut teacher, "Scheduled", 3).await;
    // sweep_users: a sign-in ended by a logout.
    let leaving = clients.login("demo_student_2", "password").await.unwrap();
    clients.auth(bearer(&leaving)).logout(pb::LogoutRequest {}).await.unwrap();
    // check_face_verification_results: a check-in waiting for the gateway.
    let mut face_teacher = clients.demo_teacher(2).await;
    let face_session = start(&mut face_teacher, "Anatomy", 3, &["127.0.0.0/16"]).await.unwrap().attendance_id;
    let mut alice = clients.demo_student(1).await;
    let pending = crate::face::attend_with(&mut alice, &face_session, crate::face::SELFIE).await.unwrap();
    assert_eq!(crate::common::status_of(&pending), pb::RecordStatus::Pending);

    eventually(FAILURE_BOUND, "the scheduler to archive the ended session", || async {
        (env.archive.attendance(ended).await.unwrap().is_some() && !still_in_redis(&env, ended).await).then_some(())
    })
    .await;
    eventually(FAILURE_BOUND, "the scheduler to write the logout to the sign-in history", || async {
        let ended_by: Option<String> =
            sqlx::query_scalar("SELECT ended_by FROM login_history WHERE school_number = 'demo_student_2'")
                .fetch_optional(env.archive.pool())
                .await
                .unwrap();
        ended_by.map(|ended_by| assert_eq!(ended_by, "logout"))
    })
    .await;
    let verdict = eventually(FAILURE_BOUND, "the scheduler to carry the face verdict to the record", || {
        let mut alice = alice.clone();
        let id = face_session.clone();
        async move {
            let record = alice.get_my_record(pb::GetMyRecordRequest { attendance_id: id }).await.ok()?.into_inner();
            let record = record.record?;
            (crate::common::status_of(&record) != pb::RecordStatus::Pending).then_some(record)
        }
    })
    .await;
    assert_eq!(crate::common::status_of(&verdict), pb::RecordStatus::Attended, "{verdict:?}");

    // The operators' view: each job ran on the schedule it shows.
    let mut operator = admin_sweeper(&env, sweeper.addr).await;
    let jobs = operator.list_jobs(ListJobsRequest {}).await.unwrap().into_inner().jobs;
    assert_eq!(jobs.len(), 3, "{jobs:?}");
    for job in &jobs {
        assert_eq!(job.schedule, EVERY_SECOND, "{job:?}");
        assert!(job.runs >= 1, "{} never ran: {job:?}", job.name);
        let last = job.last_run.as_ref().unwrap_or_else(|| panic!("{} has no last run: {job:?}", job.name));
        assert!(last.started_at.is_some(), "{job:?}");
    }
    println!(
        "scheduled runs: {}",
        jobs.iter().map(|job| format!("{} {}", job.name, job.runs)).collect::<Vec<_>>().join(", ")
    );
}

/// The harness's side of a server that stops on its own: the test fails at
/// once, naming the server and its error, not later as a timeout elsewhere.
/// A sweeper whose schedule is not cron starts serving, then its `run()`
/// fails as it sets the scheduler up; the wait below would take a minute.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "stopped: the schedule \"every now and then\" of sweep_users is not a cron expression")]
async fn a_sweeper_that_stops_on_its_own_fails_the_test_at_once_by_name() {
    let env = TestEnv::start().await;
    let _sweeper = env
        .start_sweeper_with(|config| {
            config.scheduler_enabled = true;
            config.sweep_users_schedule = "every now and then".into();
        })
        .await;
    eventually(Duration::from_secs(60), "something that never happens", || async { None::<()> }).await;
}

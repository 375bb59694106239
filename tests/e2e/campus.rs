//! A campus's worth of open sessions: search ranks and pages, every replica
//! sees what another started or closed, a student's calls cost the same
//! however many sessions are open, and a start a crash interrupted is
//! finished.

use std::time::{Duration, Instant};

use attn_domain::{SecurityOption, SessionMeta};
use attn_e2e::{SpareRedis, StudentClient, TestEnv, eventually};
use attn_proto::v1::{
    self as pb, AddStudentRequest, AttendanceState, FindActiveAttendancesRequest, FinishAttendanceRequest,
    GetMyRecordRequest, ListMyAttendanceRequest,
};
use attn_store::{Keys, LiveStore, live::ClaimOutcome, redis::RedisSettings};
use fred::interfaces::{ClientLike, HashesInterface, KeysInterface, SetsInterface};
use tonic::Code;
use uuid::Uuid;

use crate::common::{assert_status, attend, now_ms, start};

/// A one-hour option-1 session, for writing to Redis directly.
fn session_meta(lesson: &str, teacher: &str, teacher_name: &str) -> SessionMeta {
    SessionMeta {
        attendance_id: Uuid::now_v7(),
        lesson_name: lesson.into(),
        teacher_school_number: teacher.into(),
        teacher_full_name: teacher_name.into(),
        start_ms: now_ms(),
        end_ms: now_ms() + 3_600_000,
        security_option: SecurityOption::Manual,
        networks: vec![],
        is_deleted: false,
        deletion_reason: None,
        deletion_time_ms: None,
        check_in_code_period_secs: None,
        course_code: None,
        allow_walk_ins: false,
        time_zone: None,
    }
}

/// A session's meta hash as a start writes it; `extra` adds fields.
async fn write_meta(env: &TestEnv, meta: &SessionMeta, version: &str, extra: &[(&str, &str)]) {
    let mut fields: Vec<(&str, String)> = vec![
        ("json", meta.to_json()),
        ("end_ms", meta.end_ms.to_string()),
        ("deleted", "0".into()),
        ("teacher", meta.teacher_school_number.clone()),
        ("version", version.into()),
    ];
    fields.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let _: () = env.live.pool().hset(env.live.keys().meta(meta.attendance_id), fields).await.unwrap();
}

async fn search(
    student: &mut StudentClient,
    lesson: &str,
    teacher: &str,
    page_size: i32,
    page_token: &str,
) -> Result<pb::FindActiveAttendancesResponse, tonic::Status> {
    Ok(student
        .find_active_attendances(FindActiveAttendancesRequest {
            lesson_name: lesson.into(),
            teacher_name: teacher.into(),
            page_size,
            page_token: page_token.into(),
        })
        .await?
        .into_inner())
}

fn lessons(found: &pb::FindActiveAttendancesResponse) -> Vec<&str> {
    found.attendances.iter().map(|a| a.lesson_name.as_str()).collect()
}

#[tokio::test]
async fn search_ranks_exact_then_prefix_then_contains_and_pages_through_every_result() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let names = ["Advanced Algebra", "Algebra", "Algebra II", "Linear  ALGEBRA", "Calculus", "Algebraic Topology"];
    for (n, lesson) in names.iter().enumerate() {
        let mut teacher = clients.demo_teacher(n + 1).await;
        start(&mut teacher, lesson, 1, &[]).await.unwrap();
    }
    let mut student = clients.demo_student(1).await;

    let all = search(&mut student, "  algebra ", "", 0, "").await.unwrap();
    let order = lessons(&all);
    assert_eq!(order[0], "Algebra", "the exact match first: {order:?}");
    let mut prefixes = order[1..3].to_vec();
    prefixes.sort();
    assert_eq!(prefixes, ["Algebra II", "Algebraic Topology"], "then names starting with it: {order:?}");
    let mut containing = order[3..].to_vec();
    containing.sort();
    assert_eq!(containing, ["Advanced Algebra", "Linear  ALGEBRA"], "then names containing it: {order:?}");
    assert!(all.next_page_token.is_empty());

    // Two at a time: the same five, in the same order, then no token.
    let mut paged = Vec::new();
    let mut token = String::new();
    for _ in 0..5 {
        let page = search(&mut student, "algebra", "", 2, &token).await.unwrap();
        assert!(page.attendances.len() <= 2);
        paged.extend(page.attendances.iter().map(|a| a.lesson_name.clone()));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(paged, order, "paging gives every result once, in order");

    // By teacher alone, and both together.
    let by_teacher = search(&mut student, "", "Teacher 5", 0, "").await.unwrap();
    assert_eq!(lessons(&by_teacher), ["Calculus"], "{by_teacher:?}");
    let none = search(&mut student, "algebra", "Teacher 5", 0, "").await.unwrap();
    assert!(none.attendances.is_empty(), "{none:?}");

    // Two letters match the start of names only.
    assert_eq!(lessons(&search(&mut student, "ca", "", 0, "").await.unwrap()), ["Calculus"]);
    assert!(search(&mut student, "lc", "", 0, "").await.unwrap().attendances.is_empty());

    let forged = search(&mut student, "algebra", "", 0, "bm90IGEgdG9rZW4").await;
    assert_status(forged, Code::InvalidArgument, "page_token");
    assert_status(search(&mut student, "algebra", "", -1, "").await, Code::InvalidArgument, "page_size");
    // AIP-158: an oversized page is capped, not refused.
    let capped = search(&mut student, "algebra", "", 101, "").await.unwrap();
    assert_eq!(lessons(&capped), lessons(&all));
}

/// A second replica's copy of the open sessions follows the first's starts
/// and finishes through Redis alone.
#[tokio::test]
async fn a_session_started_on_one_replica_is_found_on_another_and_leaves_it_when_finished() {
    let env = TestEnv::start().await;
    let other = env.start_attendance_replica().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let student = env.clients_of(other).await.demo_student(1).await;

    let session = start(&mut teacher, "Organic Chemistry", 1, &[]).await.unwrap();
    let started = Instant::now();
    let found = eventually(Duration::from_secs(10), "the other replica to find the new session", || {
        let mut student = student.clone();
        async move {
            let found = search(&mut student, "organic chemistry", "", 0, "").await.unwrap();
            (!found.attendances.is_empty()).then_some(found)
        }
    })
    .await;
    println!("found on the other replica after {:?}", started.elapsed());
    assert_eq!(found.attendances[0].attendance_id, session.attendance_id);

    teacher.finish_attendance(FinishAttendanceRequest { attendance_id: session.attendance_id.clone() }).await.unwrap();
    let finished = Instant::now();
    eventually(Duration::from_secs(10), "the finished session to leave the other replica's search", || {
        let mut student = student.clone();
        async move { search(&mut student, "organic", "", 0, "").await.unwrap().attendances.is_empty().then_some(()) }
    })
    .await;
    println!("gone from the other replica after {:?}", finished.elapsed());
}

/// What a student's calls cost Redis, counted by Redis itself, is the same
/// with one session open as with 300: nothing reads the open sessions. And
/// the session's first check-in costs what every later one does: its
/// settings come from the replica's copy of the open sessions, not a read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_students_calls_cost_redis_the_same_with_one_or_three_hundred_sessions_open() {
    // A Redis of its own, so that only this test's commands are counted.
    let redis = SpareRedis::start(&["--maxmemory-policy", "noeviction"]).await;
    let url = redis.url.clone();
    let env = TestEnv::start_with(|options| {
        options.attendance.redis.redis_url = url.clone().into();
        // No background refresh during the count; this replica's own starts
        // reach its copy directly.
        options.attendance.open_sessions_refresh_ms = 3_600_000;
    })
    .await;
    let settings =
        RedisSettings { url: redis.url.clone().into(), pool_size: 1, command_timeout: Duration::from_secs(2) };
    let live = LiveStore::connect(&settings, Keys::new(&env.key_prefix).unwrap()).await.unwrap();
    let clients = env.clients().await;

    let mut costs = Vec::new();
    for (round, open_before) in [(1usize, 0usize), (2, 299)] {
        for n in 0..open_before {
            let meta =
                session_meta(&format!("Seminar {n}"), &format!("campus_teacher_{n}"), &format!("Campus Teacher {n}"));
            assert_eq!(live.create_session(&meta, None, &[], now_ms()).await.unwrap(), ClaimOutcome::Claimed);
        }
        let mut teacher = clients.demo_teacher(round).await;
        let lesson = format!("Measured lesson {round}");
        let session = start(&mut teacher, &lesson, 1, &[]).await.unwrap();
        let mut student = clients.demo_student(round).await;
        // One call first, so the sign-in is cached as it is for a student
        // who has been using the app.
        search(&mut student, &lesson, "", 0, "").await.unwrap();

        let before = commands(&live).await;
        let found = search(&mut student, &lesson, "", 0, "").await.unwrap();
        assert_eq!(found.attendances.len(), 1);
        let after_search = commands(&live).await;
        attend(&mut student, &session.attendance_id, &format!("r{round}")).await.unwrap();
        let after_attend = commands(&live).await;
        student.get_my_record(GetMyRecordRequest { attendance_id: session.attendance_id.clone() }).await.unwrap();
        let after_record = commands(&live).await;
        let mine = student.list_my_attendance(ListMyAttendanceRequest::default()).await.unwrap().into_inner();
        assert_eq!(mine.entries.len(), 1);
        let after_list = commands(&live).await;
        let mut classmate = clients.demo_student(round + 2).await;
        search(&mut classmate, &lesson, "", 0, "").await.unwrap();
        let before_second = commands(&live).await;
        attend(&mut classmate, &session.attendance_id, &format!("r{round}")).await.unwrap();
        let after_second = commands(&live).await;
        // Each `commands` call is itself one INFO.
        let cost = [
            after_search - before - 1,
            after_attend - after_search - 1,
            after_record - after_attend - 1,
            after_list - after_record - 1,
            after_second - before_second - 1,
        ];
        println!(
            "open sessions: {}; Redis commands for search, attend, get record, list mine, a second attend: {cost:?}",
            open_before + 1
        );
        costs.push(cost);
    }
    assert_eq!(costs[0][0], 0, "a search never reaches Redis");
    assert_eq!(costs[0][1], costs[0][4], "the session's first check-in costs what the second does: {costs:?}");
    assert_eq!(costs[0], costs[1], "the same cost with 1 and 300 sessions open");
}

/// Commands Redis has run since it started, from INFO commandstats.
async fn commands(live: &LiveStore) -> u64 {
    let info: String = live.pool().next().info(Some(fred::types::InfoKind::CommandStats)).await.unwrap();
    info.lines().filter_map(|line| line.split_once("calls=")?.1.split(',').next()?.parse::<u64>().ok()).sum()
}

/// A crash between claiming a session and listing it leaves the teacher's
/// claim: the teacher's next start names it, and finishes listing it, so
/// students can find it and the sweeper will archive it.
#[tokio::test]
async fn a_start_interrupted_after_the_claim_is_finished_by_the_teachers_next_start() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(1).await;
    let keys = env.live.keys().clone();
    let pool = env.live.pool();
    let meta = session_meta("Interrupted Optics", "demo_teacher_1", "Demo Teacher 1");
    let id = meta.attendance_id;
    // What the first two steps of a start leave: the session, unfinished and
    // expiring, and the teacher's claim on it.
    write_meta(&env, &meta, "0", &[("unfinished", "1")]).await;
    let _: () = pool.pexpire(keys.meta(id), 3_600_000, None).await.unwrap();
    let _: () = pool
        .set(keys.teacher_claim("demo_teacher_1"), format!("{id}|{}", meta.end_ms), None, None, false)
        .await
        .unwrap();
    let _: () = pool.sadd(keys.teacher_sessions("demo_teacher_1"), id.to_string()).await.unwrap();
    assert!(search(&mut student, "interrupted optics", "", 0, "").await.unwrap().attendances.is_empty());

    assert_status(start(&mut teacher, "Another lesson", 1, &[]).await, Code::AlreadyExists, &id.to_string());
    let ttl: i64 = pool.pttl(keys.meta(id)).await.unwrap();
    assert_eq!(ttl, -1, "the finished session no longer expires by itself");
    let unfinished: bool = pool.hexists(keys.meta(id), "unfinished").await.unwrap();
    assert!(!unfinished);
    let shard = attn_store::keys::shard_of_session(id);
    let listed: bool = pool.hexists(keys.open_sessions(shard), id.to_string()).await.unwrap();
    assert!(listed, "listed for search and the sweeper");
    // This replica learns of it at its next refresh.
    eventually(Duration::from_secs(10), "students to find the finished session", || {
        let mut student = student.clone();
        async move {
            (!search(&mut student, "interrupted optics", "", 0, "").await.unwrap().attendances.is_empty()).then_some(())
        }
    })
    .await;
}

/// A record the teacher adds is in the student's own history at once, and
/// the archive takes the session out of the student's set of live sessions.
#[tokio::test]
async fn a_record_added_by_the_teacher_is_in_the_students_history_and_leaves_redis_with_the_sweep() {
    let env = TestEnv::start().await;
    let sweeper = env.start_sweeper().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mut student = clients.demo_student(7).await;
    let session = start(&mut teacher, "Field trip", 1, &[]).await.unwrap();
    teacher
        .add_student(AddStudentRequest {
            attendance_id: session.attendance_id.clone(),
            student_number: "demo_student_7".into(),
            full_name: "Demo Student 7".into(),
            is_attended: true,
            reason: String::new(),
        })
        .await
        .unwrap();
    let mine = student.list_my_attendance(ListMyAttendanceRequest::default()).await.unwrap().into_inner();
    assert_eq!(mine.entries.len(), 1, "{mine:?}");
    assert_eq!(mine.entries[0].attendance.as_ref().unwrap().attendance_id, session.attendance_id);

    teacher.finish_attendance(FinishAttendanceRequest { attendance_id: session.attendance_id.clone() }).await.unwrap();
    let summary = sweeper.sweep_attendances().await;
    assert_eq!(summary.count("sessions_archived"), 1, "{summary:?}");
    let set = env.live.keys().student_sessions("demo_student_7");
    let members: Vec<String> = env.live.pool().smembers(&set).await.unwrap();
    assert!(members.is_empty(), "the archived session left the student's set: {members:?}");
    let mine = student.list_my_attendance(ListMyAttendanceRequest::default()).await.unwrap().into_inner();
    assert_eq!(mine.entries.len(), 1, "now from the archive: {mine:?}");
    assert_eq!(mine.entries[0].attendance.as_ref().unwrap().state(), AttendanceState::Archived);
}

/// A campus upgrading from the layout before sharding, with a session open,
/// a sign-in and a face check waiting: the new sweeper moves them at start,
/// and everything works as if they had been written today.
#[tokio::test]
async fn an_upgrade_from_the_unsharded_indexes_strands_nothing() {
    use attn_domain::Record;
    use attn_store::{face_queue::FaceJob, tokens::SignIn};
    use fred::interfaces::SortedSetsInterface;

    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let keys = env.live.keys().clone();
    let pool = env.live.pool();
    let legacy = |part: &str| format!("{}:{{idx}}:{part}", env.key_prefix);

    // A session as the old layout kept it: its own keys, then `{idx}` indexes.
    let meta = session_meta("Legacy Geology", "demo_teacher_2", "Demo Teacher 2");
    let id = meta.attendance_id;
    let record = Record::attended("demo_student_3", "Demo Student 3", now_ms());
    write_meta(&env, &meta, "1", &[]).await;
    let _: () = pool.hset(keys.records(id), ("demo_student_3", record.to_json())).await.unwrap();
    let _: () =
        pool.zadd(legacy("ending"), None, None, false, false, (meta.end_ms as f64, id.to_string())).await.unwrap();
    let _: () = pool.hset(legacy("active"), (id.to_string(), meta.to_json())).await.unwrap();
    let _: () = pool.hset(legacy("teacher_active"), ("demo_teacher_2", id.to_string())).await.unwrap();
    let _: () = pool.sadd(legacy("teacher_sessions:demo_teacher_2"), id.to_string()).await.unwrap();
    // A sign-in and a face check waiting, in the old indexes.
    let sign_in = SignIn {
        login_id: Uuid::now_v7(),
        school_number: "demo_student_4".into(),
        full_name: "Demo Student 4".into(),
        role: attn_domain::Role::Student,
        photo_url: None,
        started_ms: now_ms() - 1_000,
        expires_ms: now_ms() + 600_000,
    };
    let token_hash = attn_store::tokens::hash_token("a token from before the upgrade");
    let _: () =
        pool.hset(legacy("login_info"), (token_hash.as_str(), serde_json::to_string(&sign_in).unwrap())).await.unwrap();
    let _: () = pool
        .zadd(legacy("logins"), None, None, false, false, (sign_in.expires_ms as f64, token_hash.as_str()))
        .await
        .unwrap();
    let job = FaceJob {
        attendance_id: id,
        student_number: "demo_student_5".into(),
        job_id: "job-from-before".into(),
        submitted_ms: now_ms(),
        errors: 0,
        traceparent: None,
    };
    let member = format!("demo_student_5|{id}");
    let face = legacy("user_waiting_for_face_verification");
    let _: () = pool.hset(&face, (member.as_str(), serde_json::to_string(&job).unwrap())).await.unwrap();
    let _: () =
        pool.zadd(format!("{face}:due"), None, None, false, false, (now_ms() as f64, member.as_str())).await.unwrap();

    let _sweeper = env.start_sweeper().await;

    let left = env.scan_keys(&format!("{}:{{idx}}:*", env.key_prefix)).await;
    assert!(left.is_empty(), "the old indexes are gone: {left:?}");
    let mut student = clients.demo_student(3).await;
    let mine = student.list_my_attendance(ListMyAttendanceRequest::default()).await.unwrap().into_inner();
    assert_eq!(mine.entries.len(), 1, "the student's live record is found: {mine:?}");
    let mut teacher = clients.demo_teacher(2).await;
    assert_status(start(&mut teacher, "Another", 1, &[]).await, Code::AlreadyExists, &id.to_string());
    eventually(Duration::from_secs(10), "students to find the adopted session", || {
        let mut student = student.clone();
        async move {
            (!search(&mut student, "legacy geology", "", 0, "").await.unwrap().attendances.is_empty()).then_some(())
        }
    })
    .await;
    let queue = attn_store::face_queue::FaceQueue::new(pool.clone(), keys.clone());
    assert_eq!(queue.len().await.unwrap(), 1, "the face check waits in its shard");
    let shard = attn_store::keys::shard_of_token(&token_hash);
    let ends: Option<f64> = pool.zscore(keys.logins(shard), token_hash.as_str()).await.unwrap();
    assert_eq!(ends, Some(sign_in.expires_ms as f64), "the sign-in is in its shard for the sweeper");
}

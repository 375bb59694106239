//! The rotating check-in code: the teacher's projector streams it
//! (WatchCheckInCode), and a session that asks for it takes only check-ins
//! carrying the current code or the one before it. A check-in without it,
//! or with a wrong or stale one, is recorded as failed with
//! `FAIL_CODE_CHECK_IN_CODE_INVALID`, like a failed network check: the
//! teacher sees it, the student may retry, and it is archived with its code.
//!
//! No test here depends on a window boundary not falling mid-test: codes are
//! taken from the stream just before they are used, the grace window covers
//! one boundary, and the comparisons across replicas line windows up by
//! their `valid_until`.

use attn_e2e::{StudentClient, TeacherClient, TestEnv, bearer};
use attn_proto::v1::{
    self as pb, AttendRequest, FinishAttendanceRequest, StartAttendanceRequest, WatchCheckInCodeRequest,
    WatchCheckInCodeResponse,
};
use futures::StreamExt;
use tonic::{Code, Status, Streaming};

use crate::common::{STREAM_WAIT, finish_and_archive, list_records, minutes, start, start_request, status_of};

const PUBLIC_URL: &str = "https://attn.example.edu";

fn seconds(n: i64) -> Option<prost_types::Duration> {
    Some(prost_types::Duration { seconds: n, nanos: 0 })
}

fn with_code(lesson: &str, period_secs: i64) -> StartAttendanceRequest {
    StartAttendanceRequest {
        require_check_in_code: true,
        check_in_code_period: seconds(period_secs),
        ..start_request(lesson, 1, &[])
    }
}

async fn start_with_code(teacher: &mut TeacherClient, lesson: &str, period_secs: i64) -> pb::Attendance {
    teacher.start_attendance(with_code(lesson, period_secs)).await.unwrap().into_inner().attendance.unwrap()
}

async fn watch(teacher: &mut TeacherClient, id: &str) -> Result<Streaming<WatchCheckInCodeResponse>, Status> {
    Ok(teacher.watch_check_in_code(WatchCheckInCodeRequest { attendance_id: id.into() }).await?.into_inner())
}

async fn next_code(stream: &mut Streaming<WatchCheckInCodeResponse>) -> WatchCheckInCodeResponse {
    tokio::time::timeout(STREAM_WAIT, stream.next())
        .await
        .expect("a code within the wait")
        .expect("the stream goes on")
        .expect("a code, not an error")
}

async fn attend_with_code(
    student: &mut StudentClient,
    id: &str,
    request_id: &str,
    code: &str,
) -> Result<pb::AttendanceRecord, Status> {
    let request = AttendRequest {
        attendance_id: id.into(),
        request_id: request_id.into(),
        check_in_code: code.into(),
        ..Default::default()
    };
    Ok(student.attend(request).await?.into_inner().record.expect("a record"))
}

fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, words: &str) {
    let status = result.expect_err("refused");
    assert_eq!(status.code(), code, "{status:?}");
    assert!(status.message().contains(words), "{:?} lacks {words:?}", status.message());
}

/// A failed record for a missing, wrong or stale code: status, code and text.
fn assert_code_invalid(record: &pb::AttendanceRecord) {
    assert!(!record.is_attended, "{record:?}");
    assert_eq!(status_of(record), pb::RecordStatus::Failed, "{record:?}");
    assert_eq!(record.fail_code(), pb::FailCode::CheckInCodeInvalid, "{record:?}");
    assert_eq!(record.fail_reason, "CHECK_IN_CODE_INVALID", "{record:?}");
}

fn record_of<'a>(records: &'a [pb::AttendanceRecord], number: &str) -> &'a pb::AttendanceRecord {
    records.iter().find(|r| r.student_number == number).unwrap_or_else(|| panic!("{number} in {records:?}"))
}

/// A code that is certainly not `code` (nor, with one in a million luck,
/// the previous window's: the test takes the code the stream shows).
fn other_than(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 500_000) % 1_000_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_with_a_code_takes_only_check_ins_with_the_code_on_the_projector() {
    let env = TestEnv::start_with(|opts| opts.attendance.public_url = format!("{PUBLIC_URL}/")).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start_with_code(&mut teacher, "Optics", 60).await;
    let id = session.attendance_id.clone();
    assert!(session.require_check_in_code);
    assert_eq!(session.check_in_code_period, seconds(60));

    let mut stream = watch(&mut teacher, &id).await.unwrap();
    let shown = next_code(&mut stream).await;
    assert_eq!(shown.code.len(), 6, "{shown:?}");
    assert!(shown.code.bytes().all(|b| b.is_ascii_digit()), "{shown:?}");
    assert_eq!(shown.qr_payload, format!("{PUBLIC_URL}/?attendance={id}&code={}", shown.code));
    let (valid_until, accepted_until) = (shown.valid_until.unwrap(), shown.accepted_until.unwrap());
    assert_eq!(accepted_until.seconds - valid_until.seconds, 60, "accepted one period past its window");
    assert_eq!(valid_until.seconds % 60, 0, "windows are aligned to the period");

    // Students see that the session asks for a code.
    let mut student = clients.demo_student(1).await;
    let found = student
        .find_active_attendances(pb::FindActiveAttendancesRequest {
            lesson_name: "Optics".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(found.attendances[0].require_check_in_code);

    // Without the code, or with a wrong one: a failed record, as for a
    // failed network check, which the teacher sees on the roster.
    let missing = attend_with_code(&mut student, &id, "r1", "").await.unwrap();
    assert_code_invalid(&missing);
    let wrong = attend_with_code(&mut student, &id, "r2", &other_than(&shown.code)).await.unwrap();
    assert_code_invalid(&wrong);
    let roster = list_records(&mut teacher, &id).await.records;
    assert_eq!(roster.len(), 1, "one record per student, overwritten: {roster:?}");
    assert_code_invalid(record_of(&roster, "demo_student_1"));

    // The retry with the code on the projector replaces it: in.
    let record = attend_with_code(&mut student, &id, "r3", &shown.code).await.unwrap();
    assert!(record.is_attended, "{record:?}");
    assert_eq!(record.fail_code(), pb::FailCode::Unspecified, "{record:?}");
    let roster = list_records(&mut teacher, &id).await.records;
    assert_eq!(roster.len(), 1);
    assert!(record_of(&roster, "demo_student_1").is_attended, "{roster:?}");
    // The same request again is answered as the first time, whatever code it carries by then.
    let replayed = attend_with_code(&mut student, &id, "r3", &other_than(&shown.code)).await.unwrap();
    assert_eq!(replayed, record);
    // A wrong code never overwrites an attendance.
    let after = attend_with_code(&mut student, &id, "r4", &other_than(&shown.code)).await;
    assert_refused(after, Code::AlreadyExists, "already attended");

    // A classmate who only ever sent a wrong code is archived failed, with the code.
    let mut classmate = clients.demo_student(2).await;
    assert_code_invalid(&attend_with_code(&mut classmate, &id, "r1", "12 34 56x").await.unwrap());
    finish_and_archive(&env, &teacher, &id).await;
    let archived = list_records(&mut teacher, &id).await.records;
    assert_eq!(archived.len(), 2, "{archived:?}");
    assert!(record_of(&archived, "demo_student_1").is_attended, "{archived:?}");
    assert_code_invalid(record_of(&archived, "demo_student_2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_rotates_at_each_window_boundary_and_the_previous_one_still_works() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = start_with_code(&mut teacher, "Acoustics", 5).await;
    let id = session.attendance_id;
    assert_eq!(env.attendance_config().public_url, "", "the tests run without ATTN_PUBLIC_URL");

    let mut stream = watch(&mut teacher, &id).await.unwrap();
    let first = next_code(&mut stream).await;
    assert_eq!(first.qr_payload, "", "no payload without ATTN_PUBLIC_URL");
    let second = next_code(&mut stream).await;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    let (first_until, second_until) = (first.valid_until.unwrap(), second.valid_until.unwrap());
    assert_eq!(second_until.seconds, first_until.seconds + 5, "the next window's code");
    assert!(now.as_secs() as i64 >= first_until.seconds, "sent once the first window was over");

    // A student who read the first code just before it changed still gets in.
    let mut student = clients.demo_student(1).await;
    let record = attend_with_code(&mut student, &id, "r1", &first.code).await.unwrap();
    assert!(record.is_attended, "{record:?}");
    let mut classmate = clients.demo_student(2).await;
    assert!(attend_with_code(&mut classmate, &id, "r1", &second.code).await.unwrap().is_attended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_owning_teacher_may_watch_the_code_and_only_of_a_session_with_one() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut owner = clients.demo_teacher(1).await;
    let session = start_with_code(&mut owner, "Mechanics", 15).await;
    let id = session.attendance_id;

    let mut other = clients.demo_teacher(2).await;
    assert_refused(watch(&mut other, &id).await, Code::NotFound, "no attendance session");
    assert_refused(watch(&mut other, &uuid::Uuid::now_v7().to_string()).await, Code::NotFound, "no attendance session");

    let token = clients.login("demo_student_1", "password").await.unwrap();
    let mut as_student = clients.teacher(bearer(&token));
    assert_eq!(watch(&mut as_student, &id).await.unwrap_err().code(), Code::PermissionDenied);

    let plain = start(&mut other, "Statics", 1, &[]).await.unwrap();
    assert_refused(watch(&mut other, &plain.attendance_id).await, Code::FailedPrecondition, "no check-in code");
    // A session without a code takes check-ins as before.
    let mut student = clients.demo_student(1).await;
    assert!(attend_with_code(&mut student, &plain.attendance_id, "r1", "").await.unwrap().is_attended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_period_is_checked_and_needs_the_code() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    for bad in [4, 301, 0] {
        let refused = teacher.start_attendance(with_code("Optics", bad)).await;
        assert_refused(refused, Code::InvalidArgument, "check_in_code_period");
    }
    let fraction = StartAttendanceRequest {
        check_in_code_period: Some(prost_types::Duration { seconds: 15, nanos: 500_000_000 }),
        ..with_code("Optics", 15)
    };
    assert_refused(teacher.start_attendance(fraction).await, Code::InvalidArgument, "check_in_code_period");
    let without_code = StartAttendanceRequest { check_in_code_period: seconds(30), ..start_request("Optics", 1, &[]) };
    assert_refused(teacher.start_attendance(without_code).await, Code::InvalidArgument, "check_in_code_period");

    // Unset: 15 s.
    let default =
        StartAttendanceRequest { require_check_in_code: true, ends: minutes(30), ..start_request("Optics", 1, &[]) };
    let session = teacher.start_attendance(default).await.unwrap().into_inner().attendance.unwrap();
    assert_eq!(session.check_in_code_period, seconds(15));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_code_stream_ends_when_the_session_is_finished() {
    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = start_with_code(&mut teacher, "Thermodynamics", 300).await.attendance_id;
    let mut stream = watch(&mut teacher, &id).await.unwrap();
    next_code(&mut stream).await;

    teacher.finish_attendance(FinishAttendanceRequest { attendance_id: id.clone() }).await.unwrap();
    let end = tokio::time::timeout(STREAM_WAIT, stream.next()).await.expect("the stream ends at once");
    assert!(end.is_none(), "ended without an error: {end:?}");
    assert_refused(watch(&mut teacher, &id).await, Code::FailedPrecondition, "has ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_show_the_same_code_and_wrong_codes_count_against_the_limit_on_both() {
    let env = TestEnv::start_with(|opts| opts.attendance.attend_attempts_per_minute = 3).await;
    let replicas = [env.clients().await, env.clients_of(env.start_attendance_replica().await).await];
    let mut teacher = replicas[0].demo_teacher(1).await;
    let id = start_with_code(&mut teacher, "Electromagnetism", 60).await.attendance_id;

    let token = replicas[0].login("demo_teacher_1", "password").await.unwrap();
    let mut on_a = watch(&mut teacher, &id).await.unwrap();
    let mut on_b = watch(&mut replicas[1].teacher(bearer(&token)), &id).await.unwrap();
    let (mut a, mut b) = (next_code(&mut on_a).await, next_code(&mut on_b).await);
    // A boundary between the two reads: the earlier stream's next code is of the later window.
    while a.valid_until != b.valid_until {
        if a.valid_until.unwrap().seconds < b.valid_until.unwrap().seconds {
            a = next_code(&mut on_a).await
        } else {
            b = next_code(&mut on_b).await
        }
    }
    assert_eq!(a.code, b.code, "every replica computes the same code");

    // Wrong codes, three in all across the replicas (each replica's own
    // first line allows three), each a failed record: the fourth attempt
    // waits, even with the right code, and leaves the failed record as it was.
    let student_token = replicas[0].login("demo_student_1", "password").await.unwrap();
    let mut students = [replicas[0].student(bearer(&student_token)), replicas[1].student(bearer(&student_token))];
    for n in 0..3 {
        let wrong = attend_with_code(&mut students[n % 2], &id, &format!("r{n}"), &other_than(&a.code)).await;
        assert_code_invalid(&wrong.unwrap());
    }
    let limited = attend_with_code(&mut students[1], &id, "r9", &a.code).await;
    assert_refused(limited, Code::ResourceExhausted, "too many check-in attempts");
    let roster = list_records(&mut teacher, &id).await.records;
    assert_code_invalid(record_of(&roster, "demo_student_1"));

    // A classmate with the code from the other replica's stream is not held up.
    let mut classmate = replicas[1].demo_student(2).await;
    assert!(attend_with_code(&mut classmate, &id, "r1", &a.code).await.unwrap().is_attended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_stays_in_its_own_field_and_wrong_codes_are_counted_by_a_fixed_label() {
    use attn_domain::check_in_code::{CheckInCode, CodeSecret};
    use fred::interfaces::HashesInterface;

    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = start_with_code(&mut teacher, "Optics", 60).await.attendance_id;
    let uuid: uuid::Uuid = id.parse().unwrap();

    // The secret is a field of the session's hash, 32 bytes of hex, and in
    // none of the copies of the session's JSON (its own, the search index).
    let keys = env.live.keys();
    let (json, secret): (String, String) =
        env.live.pool().hmget(keys.meta(uuid), vec!["json", "code_secret"]).await.unwrap();
    assert_eq!(secret.len(), 64, "32 bytes as hex");
    assert!(!json.contains(&secret), "{json}");
    let shard = attn_store::keys::shard_of_session(uuid);
    let listed: Option<String> = env.live.pool().hget(keys.open_sessions(shard), &id).await.unwrap();
    assert!(!listed.expect("listed for search").contains(&secret));

    // The stream's code is the one the stored secret gives (or the next
    // window's, if a boundary fell in between).
    let shown = next_code(&mut watch(&mut teacher, &id).await.unwrap()).await;
    let code = CheckInCode { secret: CodeSecret::from_hex(&secret).unwrap(), period_secs: 60 };
    let window_end_ms = shown.valid_until.unwrap().seconds * 1000;
    assert_eq!(code.shown_at(window_end_ms - 1).code, shown.code);

    let mut student = clients.demo_student(1).await;
    for n in 0..2 {
        let wrong = attend_with_code(&mut student, &id, &format!("r{n}"), &other_than(&shown.code)).await;
        assert_code_invalid(&wrong.unwrap());
    }
    attend_with_code(&mut student, &id, "r9", &shown.code).await.unwrap();
    let text = crate::metrics::scrape(env.attendance_metrics_addr).await;
    let checkins = |outcome| {
        crate::metrics::sample(&text, "attn_checkins_total", &[("security_option", "manual"), ("outcome", outcome)])
    };
    assert_eq!(checkins("CHECK_IN_CODE_INVALID"), Some(2.0));
    assert_eq!(checkins("attended"), Some(1.0));
}

/// A code is taken in its window and the next one, and refused after that.
/// The services' clock is moved past the windows instead of waiting them out.
#[tokio::test]
async fn a_code_is_taken_for_one_more_window_and_refused_after_it() {
    use attn_domain::check_in_code::{CheckInCode, CodeSecret};
    use fred::interfaces::HashesInterface as _;

    let env = TestEnv::start().await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let id = start_with_code(&mut teacher, "Optics", 60).await.attendance_id;
    let shown = next_code(&mut watch(&mut teacher, &id).await.unwrap()).await;
    let window_end_ms = shown.valid_until.unwrap().seconds * 1000;

    // Halfway through the next window: the code shown is still taken.
    env.clock.advance(std::time::Duration::from_millis((window_end_ms + 30_000 - env.clock.now_ms()) as u64));
    let mut first = clients.demo_student(1).await;
    let record = attend_with_code(&mut first, &id, "r1", &shown.code).await.unwrap();
    assert_eq!(status_of(&record), pb::RecordStatus::Attended, "{record:?}");

    // One window later it is stale.
    env.clock.advance(std::time::Duration::from_secs(60));
    let mut second = clients.demo_student(2).await;
    assert_code_invalid(&attend_with_code(&mut second, &id, "r2", &shown.code).await.unwrap());

    // The code of the window the services are in now is taken.
    let secret: String = env.live.pool().hget(env.live.keys().meta(id.parse().unwrap()), "code_secret").await.unwrap();
    let code = CheckInCode { secret: CodeSecret::from_hex(&secret).unwrap(), period_secs: 60 };
    let current = code.shown_at(env.clock.now_ms()).code;
    assert_ne!(current, shown.code);
    let record = attend_with_code(&mut second, &id, "r3", &current).await.unwrap();
    assert_eq!(status_of(&record), pb::RecordStatus::Attended, "{record:?}");
}

//! Who did not come: a course session's roster holds every enrolled
//! student from the start (NOT_CHECKED_IN while open, ABSENT once ended and
//! in the archive), the teacher can excuse anyone (audited), reports count
//! a session only for the students enrolled when it started, and the
//! course register is exported in the session's own time zone.

use attn_e2e::{TeacherClient, TestEnv};
use attn_proto::v1::{
    self as pb, AcceptStudentRequest, CourseSessionOutcome, ExcuseStudentRequest, ExportCourseReportRequest,
    ExportSessionRecordsRequest, GetCourseReportRequest, GetMyCourseSummaryRequest, ListAuditEventsRequest,
    RecordStatus, StartAttendanceRequest, WatchRecordsRequest, watch_records_response::Event,
};
use attn_runtime::Reason;
use tonic::Code;

use crate::{
    common::{assert_invalid, assert_reason, attend, finish_and_archive, list_records, status_of},
    courses::{course_request, import},
};

/// Demo teacher 1 teaches CS101 to demo students 1 to 4.
const ROSTER: &str = "school_number,full_name,role,courses\n\
                      demo_teacher_1,Demo Teacher 1,teacher,CS101=Intro to Programming\n\
                      demo_student_1,Demo Student 1,student,CS101\n\
                      demo_student_2,Demo Student 2,student,CS101\n\
                      demo_student_3,Demo Student 3,student,CS101\n\
                      demo_student_4,Demo Student 4,student,CS101\n\
                      demo_student_5,Demo Student 5,student,\n";

fn in_istanbul(lesson: &str) -> StartAttendanceRequest {
    StartAttendanceRequest { time_zone: "Europe/Istanbul".into(), ..course_request("CS101", lesson) }
}

/// (student, status, excuse reason) for every line of the roster.
fn lines(records: &[pb::AttendanceRecord]) -> Vec<(String, RecordStatus, String)> {
    records.iter().map(|r| (r.student_number.clone(), status_of(r), r.excuse_reason.clone())).collect()
}

fn line(n: usize, status: RecordStatus, excuse: &str) -> (String, RecordStatus, String) {
    (format!("demo_student_{n}"), status, excuse.to_owned())
}

async fn excuse(
    teacher: &mut TeacherClient,
    id: &str,
    n: usize,
    reason: &str,
) -> Result<pb::AttendanceRecord, tonic::Status> {
    let request = ExcuseStudentRequest {
        attendance_id: id.into(),
        student_number: format!("demo_student_{n}"),
        reason: reason.into(),
    };
    Ok(teacher.excuse_student(request).await?.into_inner().record.expect("the excused record"))
}

/// A CSV export's lines, split into cells (the tests' cells hold no commas).
async fn csv_lines(mut stream: tonic::Streaming<impl CsvChunk>) -> Result<Vec<Vec<String>>, tonic::Status> {
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await? {
        bytes.extend(chunk.bytes());
    }
    let text = String::from_utf8(bytes).expect("the export is UTF-8");
    Ok(text.lines().map(|line| line.split(',').map(str::to_owned).collect()).collect())
}

trait CsvChunk {
    fn bytes(self) -> Vec<u8>;
}

impl CsvChunk for pb::ExportSessionRecordsResponse {
    fn bytes(self) -> Vec<u8> {
        self.csv
    }
}

impl CsvChunk for pb::ExportCourseReportResponse {
    fn bytes(self) -> Vec<u8> {
        self.csv
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_course_roster_shows_who_has_not_checked_in_live_and_who_was_absent_in_the_archive() {
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = teacher.start_attendance(in_istanbul("Week 1")).await.unwrap().into_inner().attendance.unwrap();
    assert_eq!(session.time_zone, "Europe/Istanbul");
    let id = session.attendance_id;

    // Everyone enrolled is on the roster from the start, by name.
    let roster = list_records(&mut teacher, &id).await;
    assert_eq!(roster.attendance.unwrap().record_count, Some(0), "no record yet: the lines are not records");
    assert_eq!(lines(&roster.records), (1..=4).map(|n| line(n, RecordStatus::NotCheckedIn, "")).collect::<Vec<_>>());
    assert_eq!(roster.records[2].student_full_name, "Demo Student 3");

    // The live roster stream starts from the same full roster; a check-in
    // replaces its not-checked-in line.
    let mut stream =
        teacher.watch_records(WatchRecordsRequest { attendance_id: id.clone() }).await.unwrap().into_inner();
    let Some(Event::Snapshot(snapshot)) = stream.message().await.unwrap().unwrap().event else {
        panic!("a roster stream starts with a snapshot")
    };
    assert_eq!(lines(&snapshot.records).len(), 4);
    assert!(attend(&mut clients.demo_student(1).await, &id, "r1").await.unwrap().is_attended);
    let Some(Event::Record(checked_in)) = stream.message().await.unwrap().unwrap().event else {
        panic!("then the check-in")
    };
    assert_eq!(
        (checked_in.student_number.as_str(), status_of(&checked_in)),
        ("demo_student_1", RecordStatus::Attended)
    );

    // The teacher excuses student 2 (no record yet), who then cannot check in over it.
    let excused = excuse(&mut teacher, &id, 2, "doctor's note").await.unwrap();
    assert_eq!((status_of(&excused), excused.excuse_reason.as_str()), (RecordStatus::Excused, "doctor's note"));
    assert_eq!(excused.student_full_name, "Demo Student 2", "the name comes from the enrolment");
    let refused = attend(&mut clients.demo_student(2).await, &id, "r1").await;
    let status = assert_reason(refused, Reason::Excused, "excused you");
    assert_eq!(status.code(), Code::FailedPrecondition);
    // Accepting an enrolled student with no record works too; a student
    // neither enrolled nor recorded still needs AddStudent.
    let accept =
        |n: usize| AcceptStudentRequest { attendance_id: id.clone(), student_number: format!("demo_student_{n}") };
    assert_eq!(
        status_of(&teacher.accept_student(accept(4)).await.unwrap().into_inner().record.unwrap()),
        RecordStatus::Attended
    );
    assert_reason(teacher.accept_student(accept(5)).await, Reason::RecordNotFound, "use AddStudent");
    assert_invalid(excuse(&mut teacher, &id, 3, "").await, "reason");

    let live = lines(&list_records(&mut teacher, &id).await.records);
    assert_eq!(
        live,
        vec![
            line(1, RecordStatus::Attended, ""),
            line(2, RecordStatus::Excused, "doctor's note"),
            line(3, RecordStatus::NotCheckedIn, ""),
            line(4, RecordStatus::Attended, ""),
        ]
    );

    // Ended and archived: student 3 is absent, in the roster and the export.
    finish_and_archive(&env, &teacher, &id).await;
    let archived = list_records(&mut teacher, &id).await;
    assert_eq!(archived.attendance.as_ref().unwrap().time_zone, "Europe/Istanbul");
    assert_eq!(archived.attendance.unwrap().record_count, Some(3));
    assert_eq!(
        lines(&archived.records),
        vec![
            line(1, RecordStatus::Attended, ""),
            line(2, RecordStatus::Excused, "doctor's note"),
            line(3, RecordStatus::Absent, ""),
            line(4, RecordStatus::Attended, ""),
        ]
    );
    let mut stream =
        teacher.watch_records(WatchRecordsRequest { attendance_id: id.clone() }).await.unwrap().into_inner();
    let Some(Event::Snapshot(snapshot)) = stream.message().await.unwrap().unwrap().event else {
        panic!("an archived roster is one snapshot")
    };
    assert_eq!(lines(&snapshot.records), lines(&archived.records));
    let export = teacher.export_session_records(ExportSessionRecordsRequest { attendance_id: id.clone() }).await;
    let export = csv_lines(export.unwrap().into_inner()).await.unwrap();
    let header = &export[0];
    let column =
        |name: &str| header.iter().position(|cell| cell == name).unwrap_or_else(|| panic!("{name} in {header:?}"));
    let statuses: Vec<(&str, &str)> =
        export[1..].iter().map(|row| (row[0].as_str(), row[column("status")].as_str())).collect();
    assert_eq!(
        statuses,
        [
            ("demo_student_1", "ATTENDED"),
            ("demo_student_2", "EXCUSED"),
            ("demo_student_3", "ABSENT"),
            ("demo_student_4", "ATTENDED")
        ]
    );
    assert_eq!(export[2][column("excuse_reason")], "doctor's note");
    let utc = &export[1][column("check_in_time_utc")];
    let local = &export[1][column("check_in_time_local")];
    assert_eq!(local.len(), "2026-12-02 07:00:00".len(), "{local:?}");
    assert_ne!(&utc[11..13], &local[11..13], "Istanbul is not UTC: {utc} vs {local}");

    // The archive's absentee can be excused after the fact, from the
    // archived roster's name; every excuse is in the audit trail.
    let late = excuse(&mut teacher, &id, 3, "exam board").await.unwrap();
    assert_eq!((status_of(&late), late.student_full_name.as_str()), (RecordStatus::Excused, "Demo Student 3"));
    let events = teacher
        .list_audit_events(ListAuditEventsRequest { attendance_id: id.clone() })
        .await
        .unwrap()
        .into_inner()
        .events;
    let excuses: Vec<(&str, &str, bool)> = events
        .iter()
        .filter(|e| e.action() == pb::AuditAction::ExcuseStudent)
        .map(|e| {
            let Some(pb::audit_event::Change::Record(change)) = &e.change else { panic!("a record change: {e:?}") };
            (e.student_number.as_str(), e.reason.as_str(), change.before.is_none())
        })
        .collect();
    assert_eq!(excuses, [("demo_student_2", "doctor's note", true), ("demo_student_3", "exam board", true)]);
}

/// (student, attended, excused, failed, absent, total sessions, percent)
type ReportCounts<'a> = (&'a str, u32, u32, u32, u32, u32, Option<f64>);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_count_a_session_only_for_students_enrolled_when_it_started() {
    let env = TestEnv::start().await;
    let first_roster = "school_number,full_name,role,courses\n\
                        demo_teacher_1,Demo Teacher 1,teacher,CS101\n\
                        demo_student_1,Demo Student 1,student,CS101\n\
                        demo_student_2,Demo Student 2,student,CS101\n\
                        demo_student_3,Demo Student 3,student,\n";
    import(&env, first_roster).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let (mut s1, mut s3) = (clients.demo_student(1).await, clients.demo_student(3).await);

    // Week 1: student 1 comes, student 2 is excused; student 3 is not enrolled yet.
    let week1 = teacher.start_attendance(in_istanbul("Week 1")).await.unwrap().into_inner().attendance.unwrap();
    attend(&mut s1, &week1.attendance_id, "w1").await.unwrap();
    excuse(&mut teacher, &week1.attendance_id, 2, "sports day").await.unwrap();
    finish_and_archive(&env, &teacher, &week1.attendance_id).await;

    // Student 3 enrols; week 2 nobody but student 1 comes.
    import(
        &env,
        &first_roster.replace("demo_student_3,Demo Student 3,student,", "demo_student_3,Demo Student 3,student,CS101"),
    )
    .await;
    let week2 = teacher.start_attendance(in_istanbul("Week 2")).await.unwrap().into_inner().attendance.unwrap();
    attend(&mut s1, &week2.attendance_id, "w2").await.unwrap();
    finish_and_archive(&env, &teacher, &week2.attendance_id).await;

    let report = teacher
        .get_course_report(GetCourseReportRequest { course_code: "CS101".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.total_sessions, 2);
    let counts: Vec<ReportCounts> = report
        .rows
        .iter()
        .map(|r| (r.student_number.as_str(), r.attended, r.excused, r.failed, r.absent, r.total_sessions, r.percent))
        .collect();
    assert_eq!(
        counts,
        [
            ("demo_student_1", 2, 0, 0, 0, 2, Some(100.0)),
            ("demo_student_2", 0, 1, 0, 1, 2, Some(50.0)),
            ("demo_student_3", 0, 0, 0, 1, 1, Some(0.0)),
        ],
        "student 3 was not enrolled in week 1, so is not absent from it"
    );

    // The student's own summary counts the same, with each session's local date.
    let mine = s3.get_my_course_summary(GetMyCourseSummaryRequest {}).await.unwrap().into_inner();
    let [cs101] = &mine.courses[..] else { panic!("one course: {mine:?}") };
    assert_eq!((cs101.total_sessions, cs101.absent), (1, 1));
    let session = &cs101.sessions[0];
    assert_eq!(
        (session.attendance_id.as_str(), session.outcome()),
        (week2.attendance_id.as_str(), CourseSessionOutcome::Absent)
    );
    assert_eq!(session.time_zone, "Europe/Istanbul");
    let start = chrono::DateTime::from_timestamp(week2.start_time.unwrap().seconds, 0).unwrap();
    let istanbul = start.with_timezone(&chrono::FixedOffset::east_opt(3 * 3600).unwrap());
    assert_eq!(session.local_date, istanbul.format("%Y-%m-%d").to_string());
    let mine =
        clients.demo_student(2).await.get_my_course_summary(GetMyCourseSummaryRequest {}).await.unwrap().into_inner();
    let outcomes: Vec<CourseSessionOutcome> = mine.courses[0].sessions.iter().map(|s| s.outcome()).collect();
    assert_eq!(outcomes, [CourseSessionOutcome::Absent, CourseSessionOutcome::Excused], "newest first");
    assert_eq!((mine.courses[0].excused, mine.courses[0].percent), (1, Some(50.0)));

    // The register: one line per student per session they were counted in.
    let register = ExportCourseReportRequest { course_code: "cs101".into(), per_session: true, ..Default::default() };
    let register = csv_lines(teacher.export_course_report(register).await.unwrap().into_inner()).await.unwrap();
    assert_eq!(
        register[0],
        [
            "student_number",
            "student_full_name",
            "attendance_id",
            "lesson_name",
            "local_date",
            "time_zone",
            "status",
            "check_in_time_local",
            "fail_code",
            "excuse_reason"
        ]
    );
    let rows: Vec<(&str, &str, &str)> =
        register[1..].iter().map(|row| (row[0].as_str(), row[3].as_str(), row[6].as_str())).collect();
    assert_eq!(
        rows,
        [
            ("demo_student_1", "Week 1", "ATTENDED"),
            ("demo_student_1", "Week 2", "ATTENDED"),
            ("demo_student_2", "Week 1", "EXCUSED"),
            ("demo_student_2", "Week 2", "ABSENT"),
            ("demo_student_3", "Week 2", "ABSENT"),
        ]
    );
    assert!(register[1..].iter().all(|row| row[5] == "Europe/Istanbul" && row[4].len() == 10), "{register:?}");
    assert_eq!(register[3][9], "sports day");

    // The register is checked before it streams: a course not taught is NOT_FOUND.
    let mut other = clients.demo_teacher(2).await;
    let not_taught = ExportCourseReportRequest { course_code: "CS101".into(), per_session: true, ..Default::default() };
    assert_reason(other.export_course_report(not_taught).await, Reason::SessionNotFound, "no course CS101");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_time_zone_must_be_an_iana_name() {
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let mars = StartAttendanceRequest { time_zone: "Mars/Olympus".into(), ..course_request("CS101", "") };
    assert_invalid(teacher.start_attendance(mars).await, "time_zone");
    // None given: UTC, and a session without a course has no roster lines.
    let plain = teacher.start_attendance(crate::common::start_request("Plain", 1, &[])).await.unwrap().into_inner();
    let plain = plain.attendance.unwrap();
    assert_eq!(plain.time_zone, "UTC");
    assert!(list_records(&mut teacher, &plain.attendance_id).await.records.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_course_session_started_before_the_roster_hash_keeps_its_gate_and_archives_its_absentees() {
    use fred::interfaces::{KeysInterface, SetsInterface};
    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = teacher.start_attendance(course_request("CS101", "")).await.unwrap().into_inner().attendance.unwrap();
    let id = session.attendance_id;
    // As the first version of courses left it: the enrolled students'
    // numbers in a set, no roster hash (what a replica upgraded mid-session finds).
    let uuid = uuid::Uuid::parse_str(&id).unwrap();
    let (keys, pool) = (env.live.keys().clone(), env.live.pool().clone());
    let _: i64 = pool.del(keys.roster(uuid)).await.unwrap();
    let numbers: Vec<String> = (1..=4).map(|n| format!("demo_student_{n}")).collect();
    let _: i64 = pool.sadd(keys.legacy_enrolled(uuid), numbers).await.unwrap();

    // The gate still holds, both on a replica's first read and in the script.
    assert_reason(attend(&mut clients.demo_student(5).await, &id, "r1").await, Reason::NotEnrolled, "not enrolled");
    assert!(attend(&mut clients.demo_student(1).await, &id, "r1").await.unwrap().is_attended);
    assert!(attend(&mut clients.demo_student(2).await, &id, "r1").await.unwrap().is_attended);
    let live = lines(&list_records(&mut teacher, &id).await.records);
    assert_eq!(live[2], line(3, RecordStatus::NotCheckedIn, ""));

    // Archived: the absentees get their names from the directory.
    finish_and_archive(&env, &teacher, &id).await;
    let archived = list_records(&mut teacher, &id).await.records;
    let absent: Vec<(&str, &str)> = archived
        .iter()
        .filter(|r| status_of(r) == RecordStatus::Absent)
        .map(|r| (r.student_number.as_str(), r.student_full_name.as_str()))
        .collect();
    assert_eq!(absent, [("demo_student_3", "Demo Student 3"), ("demo_student_4", "Demo Student 4")]);
    let left = env.scan_keys(&format!("{}:{{a:{id}}}:*", env.key_prefix)).await;
    assert!(left.is_empty(), "the legacy set goes with the session: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn course_sessions_archived_before_rosters_were_kept_are_counted_against_todays_enrolment() {
    const MIGRATION: &str =
        include_str!("../../shared/store/migrations/20261202000002_absentees_excuses_time_zones.sql");
    let start = MIGRATION.find("INSERT INTO attendance_enrolments").expect("the backfill statement");
    let backfill = &MIGRATION[start..start + MIGRATION[start..].find(';').expect("one statement")];

    let env = TestEnv::start().await;
    import(&env, ROSTER).await;
    let clients = env.clients().await;
    let mut teacher = clients.demo_teacher(1).await;
    let session = teacher.start_attendance(course_request("CS101", "")).await.unwrap().into_inner().attendance.unwrap();
    let id = session.attendance_id;
    attend(&mut clients.demo_student(1).await, &id, "r1").await.unwrap();
    finish_and_archive(&env, &teacher, &id).await;
    // As stop 20's sweep archived it: no roster kept.
    let pool = env.archive.pool();
    sqlx::query("DELETE FROM attendance_enrolments WHERE attendance_id = $1::uuid")
        .bind(&id)
        .execute(pool)
        .await
        .unwrap();
    let statuses = |records: Vec<pb::AttendanceRecord>| records.iter().map(status_of).collect::<Vec<_>>();
    assert_eq!(statuses(list_records(&mut teacher, &id).await.records), [RecordStatus::Attended]);

    sqlx::raw_sql(backfill).execute(pool).await.unwrap();
    sqlx::raw_sql(backfill).execute(pool).await.expect("the backfill may run twice");
    let after = list_records(&mut teacher, &id).await.records;
    assert_eq!(
        statuses(after.clone()),
        [RecordStatus::Attended, RecordStatus::Absent, RecordStatus::Absent, RecordStatus::Absent]
    );
    assert_eq!(after[3].student_full_name, "Demo Student 4");
    let report = teacher
        .get_course_report(GetCourseReportRequest { course_code: "CS101".into(), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.rows.iter().map(|r| r.absent).collect::<Vec<_>>(), [0, 1, 1, 1]);
}

//! Scenario 8 (issue 13): a semester of course sessions, and the reports
//! over it.
//!
//! A semester (by default 14 weeks x 3 sessions a week x 40 courses x 150
//! students, about 252,000 roster places) is seeded straight into
//! PostgreSQL with set-based SQL (`generate_series`, `INSERT ... SELECT`):
//! users, courses, who teaches and who is enrolled in what, the archived
//! sessions with their course and time zone, each session's roster as it
//! started (`attendance_enrolments`) and the records (most attended, some
//! failed, a few excused, the rest absent: no record). Archiving that many
//! sessions through check-ins and the sweeper would take many minutes and
//! measure nothing this scenario is about.
//!
//! Then, over real gRPC, as the course's own teacher (signed in through
//! Login), for one course:
//!
//! - `GetCourseReport`: N calls after a warm-up, p50/p99; baseline a bare
//!   `COPY (SELECT ...) TO STDOUT` of the rows the report counts (every
//!   roster place of the course's sessions with its record), timed the same way;
//! - `ExportCourseReport` with `per_session` (the course register: a row per
//!   student per counted session, streamed): rows a second; baseline a bare
//!   `COPY (SELECT the same register rows) TO STDOUT`;
//! - the plain report export (a row per student), timed for information.
//!
//! The baselines' statements are attendance-service's own (the same rows,
//! the same joins), without the aggregation, the formatting and the gRPC:
//! what the database alone takes to hand the rows over. Each ATTN run and
//! its baseline's alternate.
//!
//! Every outcome is a formula of (student, session, course), so the
//! expected counts are worked out here independently of the database: each
//! report row must match, and the register must hold sessions x students
//! rows with the statuses seeded.

use std::{collections::BTreeMap, time::Instant};

use anyhow::{Context as _, bail};
use attn_proto::v1::{
    ExportCourseReportRequest, GetCourseReportRequest, GetCourseReportResponse,
    teacher_service_client::TeacherServiceClient,
};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use tonic::transport::Channel;

use crate::{
    bench::{Bench, STUCK},
    cli::SemesterSettings,
    clients::{Token, authed, connect, login},
    roster::PASSWORD,
    stats::{Percentiles, median},
};

/// The time zone every seeded session was taught in.
pub const TIME_ZONE: &str = "Europe/Istanbul";
/// GetCourseReport's target (issue 13): p99 below this.
pub const REPORT_P99_TARGET_MS: f64 = 50.0;
/// The course register's target (issue 13): at least this many rows a second.
pub const REGISTER_ROWS_TARGET: f64 = 100_000.0;

/// What a student made of one session, as seeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Attended,
    Failed,
    Excused,
    Absent,
}

/// The seed's rule, in the same integer arithmetic as [`SEED_RECORDS`]:
/// 82 % attended, 8 % failed, 3 % excused, 7 % absent, spread over
/// students and sessions.
fn outcome(student: usize, session: usize, course: usize) -> Outcome {
    match (student * 31 + session * 17 + course * 7) % 100 {
        0..82 => Outcome::Attended,
        82..90 => Outcome::Failed,
        90..93 => Outcome::Excused,
        _ => Outcome::Absent,
    }
}

/// The roster places of one course: student `j` of course `c` is student
/// `(c * per_course + j) % pool`, so a student is in about four courses.
fn student_of(settings: &SemesterSettings, course: usize, j: usize) -> usize {
    (course * settings.students_per_course + j) % settings.students
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SeedFigures {
    pub secs: f64,
    /// VACUUM (ANALYZE) of the tables written, after the seed.
    pub analyze_secs: f64,
    pub users: u64,
    pub courses: u64,
    pub course_teachers: u64,
    pub enrolments: u64,
    pub attendances: u64,
    pub attendance_enrolments: u64,
    pub attendance_records: u64,
    pub attended: u64,
    pub failed: u64,
    pub excused: u64,
    /// Roster places without a record.
    pub absent: u64,
}

impl SeedFigures {
    /// What was written, table by table.
    pub fn counts(&self) -> String {
        format!(
            "{} users, {} courses, {} course_teachers, {} enrolments, {} attendances, {} attendance_enrolments, \
             {} attendance_records ({} attended, {} failed, {} excused; {} absent: no record)",
            self.users,
            self.courses,
            self.course_teachers,
            self.enrolments,
            self.attendances,
            self.attendance_enrolments,
            self.attendance_records,
            self.attended,
            self.failed,
            self.excused,
            self.absent
        )
    }
}

/// N timed runs of one thing: its latency, and the rows each run carried
/// (GetCourseReport: the roster places it counted).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timed {
    pub what: String,
    pub runs: usize,
    /// Rows per run (the same every run: the last run's).
    pub rows: u64,
    pub bytes: u64,
    pub latency: Percentiles,
    /// Rows over each run's time, the median of runs.
    pub median_rows_per_sec: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SemesterReport {
    pub settings: SemesterSettings,
    pub seed: SeedFigures,
    /// The course measured, its sessions and its students.
    pub course: String,
    pub course_sessions: usize,
    pub course_students: usize,
    pub report: Option<Timed>,
    pub report_copy: Option<Timed>,
    pub register: Option<Timed>,
    pub register_copy: Option<Timed>,
    pub report_export: Option<Timed>,
    /// attendance-service's peak RSS while it streamed the exports (MiB).
    pub attendance_peak_rss_mib: Option<f64>,
    /// What was checked against the seed, and held.
    pub checks: Vec<String>,
    pub failures: Vec<String>,
}

impl SemesterReport {
    pub fn report_p99_ms(&self) -> Option<f64> {
        self.report.as_ref().filter(|t| t.latency.count > 0).map(|t| t.latency.p99_ms)
    }

    pub fn register_rows_per_sec(&self) -> Option<f64> {
        self.register.as_ref().filter(|t| t.runs > 0).map(|t| t.median_rows_per_sec.round())
    }
}

/// The names of this run's semester: numbers carry the run id (as every
/// other scenario's do), so a shared `--target` database never collides.
struct Names {
    /// Users: `<people>t007` teachers, `<people>s00042` students.
    people: String,
    /// Courses: `<courses>007`; upper case, as course codes are.
    courses: String,
}

impl Names {
    fn new(run_id: &str) -> Self {
        Self { people: format!("b{run_id}-m"), courses: format!("B{}-C", run_id.to_uppercase()) }
    }

    fn course(&self, c: usize) -> String {
        format!("{}{c:03}", self.courses)
    }

    fn teacher(&self, c: usize) -> String {
        format!("{}t{c:03}", self.people)
    }

    fn student(&self, p: usize) -> String {
        format!("{}s{p:05}", self.people)
    }
}

pub async fn run(bench: &Bench<'_>) -> anyhow::Result<SemesterReport> {
    let settings = bench.settings.semester.clone();
    let names = Names::new(&bench.run_id);
    let mut db = PgConnection::connect(&bench.stack.database_url)
        .await
        .context("cannot reach the stack's PostgreSQL to seed the semester")?;
    println!(
        "  seeding it in PostgreSQL ({} students in all, each in about {} courses) ...",
        settings.students,
        (settings.courses * settings.students_per_course).div_ceil(settings.students)
    );
    let seed = seed(&mut db, &settings, &names, &bench.people.teacher.number).await?;
    println!("  seeded in {:.1} s (VACUUM ANALYZE {:.1} s): {}", seed.secs, seed.analyze_secs, seed.counts());

    // The first course, as its own teacher.
    let measured = 0;
    let course = names.course(measured);
    let channel = connect(&bench.stack.attendance_url).await?;
    let teacher = login(&channel, &names.teacher(measured), PASSWORD).await?;
    let mut report = SemesterReport {
        course: course.clone(),
        course_sessions: settings.sessions_per_course(),
        course_students: settings.students_per_course,
        settings,
        seed,
        report: None,
        report_copy: None,
        register: None,
        register_copy: None,
        report_export: None,
        attendance_peak_rss_mib: None,
        checks: Vec::new(),
        failures: Vec::new(),
    };
    let measure = Measure { channel, teacher, course, names: &names, measured };

    // Correctness first (untimed), so a wrong server is reported even if a
    // timed part fails later.
    match measure.check_report(&report.settings).await {
        Ok(checked) => report.checks.push(checked),
        Err(err) => report.failures.push(format!("GetCourseReport: {err:#}")),
    }
    match measure.check_register(&report.settings).await {
        Ok(checked) => report.checks.push(checked),
        Err(err) => report.failures.push(format!("ExportCourseReport per_session: {err:#}")),
    }

    let calls = report.settings.calls;
    let exports = report.settings.exports;
    let warm = |n: usize| (n / 10).clamp(2, 20);
    println!("  GetCourseReport and a COPY of the rows it counts, in turn, {calls} times ...");
    match measure.report_pairs(&mut db, warm(calls), calls).await {
        Ok([attn, copy]) => (report.report, report.report_copy) = (Some(attn), Some(copy)),
        Err(err) => report.failures.push(format!("{err:#}")),
    }
    println!("  the register export and a COPY of the register, in turn, {exports} times; the plain export ...");
    let before = bench.stack.start_window();
    match measure.register_pairs(&mut db, warm(exports), exports).await {
        Ok([attn, copy]) => (report.register, report.register_copy) = (Some(attn), Some(copy)),
        Err(err) => report.failures.push(format!("{err:#}")),
    }
    match measure.plain_exports(warm(exports), exports).await {
        Ok(timed) => report.report_export = Some(timed),
        Err(err) => report.failures.push(format!("ExportCourseReport: {err:#}")),
    }
    let after = bench.stack.sample();
    report.attendance_peak_rss_mib =
        crate::procs::figures(&before, &after).get("attendance-service").map(|p| p.peak_rss_mib);
    let _ = db.close().await;

    if let Some(r) = &report.report {
        println!(
            "  GetCourseReport p50 {:.2} ms, p99 {:.2} ms: target {} (p99 < {REPORT_P99_TARGET_MS} ms)",
            r.latency.p50_ms,
            r.latency.p99_ms,
            met(r.latency.p99_ms < REPORT_P99_TARGET_MS)
        );
    }
    if let Some(r) = &report.register {
        println!(
            "  register {} rows, {:.0} rows/s: target {} (>= {REGISTER_ROWS_TARGET} rows/s)",
            r.rows,
            r.median_rows_per_sec,
            met(r.median_rows_per_sec >= REGISTER_ROWS_TARGET)
        );
    }
    Ok(report)
}

pub fn met(yes: bool) -> &'static str {
    if yes { "met" } else { "missed" }
}

// === seeding ===

/// Sessions: one row per course per week per weekday slot, with its number
/// within its course (`n`), kept for the session of the whole seed. Their
/// ids are UUIDv7 of their start, as StartAttendance makes them
/// (`Uuid::now_v7`), and every table below is written session by session
/// in start order, as the sweeper archives them: the physical order a real
/// semester leaves, which the planner's index choices depend on.
const SEED_SESSIONS: &str = r"
CREATE TEMP TABLE semester_sessions AS
SELECT overlay(overlay(replace(gen_random_uuid()::text, '-', '')
                       placing lpad(to_hex((extract(epoch FROM start_time) * 1000)::bigint), 12, '0') FROM 1 FOR 12)
               placing '7' FROM 13 FOR 1)::uuid AS attendance_id,
       c, n, course_code, teacher, teacher_name, lesson_name, start_time
FROM (SELECT c, w * $3 + k AS n,
             $1 || lpad(c::text, 3, '0') AS course_code,
             $2 || 't' || lpad(c::text, 3, '0') AS teacher,
             'Semester Teacher ' || c AS teacher_name,
             'Semester Course ' || c || ' week ' || (w + 1) || ' lesson ' || (k + 1) AS lesson_name,
             date_trunc('week', now()) - make_interval(weeks => $4 + 1)
                 + make_interval(days => w * 7 + (k * 7) / $3, hours => 6 + c % 9, mins => 30 * (c / 9 % 2))
                 AS start_time
      FROM generate_series(0, $5 - 1) AS c, generate_series(0, $4 - 1) AS w, generate_series(0, $3 - 1) AS k) AS t";

/// Roster places: student `j` of course `c` is student `(c * S + j) % P`.
const SEED_PLACES: &str = r"
CREATE TEMP TABLE semester_places AS
SELECT c, p, $1 || lpad(c::text, 3, '0') AS course_code,
       $2 || 's' || lpad(p::text, 5, '0') AS student_number, 'Semester Student ' || p AS full_name
FROM generate_series(0, $3 - 1) AS c, generate_series(0, $4 - 1) AS j,
     LATERAL (SELECT (c * $4 + j) % $5 AS p) AS place";

/// The records: [`outcome`]'s rule. Attended at some minute of the lesson;
/// failed by the network check; excused by the teacher; absent: no row.
const SEED_RECORDS: &str = r"
INSERT INTO attendance_records (attendance_id, student_number, student_full_name, is_attended, attendance_time,
                                fail_reason, fail_code, by_teacher, excuse_reason)
SELECT s.attendance_id, e.student_number, e.full_name, o.v < 82,
       CASE WHEN o.v < 82 THEN s.start_time + make_interval(secs => (e.p * 13 + s.n) % 900) END,
       CASE WHEN o.v >= 82 AND o.v < 90 THEN 'WIFI_FAILED' END,
       CASE WHEN o.v >= 82 AND o.v < 90 THEN 'WIFI_FAILED' END,
       o.v >= 90,
       CASE WHEN o.v >= 90 THEN 'Doctor''s note' END
FROM semester_sessions s JOIN semester_places e USING (c),
     LATERAL (SELECT (e.p * 31 + s.n * 17 + s.c * 7) % 100 AS v) AS o
WHERE o.v < 93
ORDER BY s.start_time, s.attendance_id, e.student_number";

async fn seed(
    db: &mut PgConnection,
    settings: &SemesterSettings,
    names: &Names,
    password_of: &str,
) -> anyhow::Result<SeedFigures> {
    let started = Instant::now();
    let mut figures = SeedFigures::default();
    let as_i32 = |n: usize| i32::try_from(n).context("too large a semester");
    let (courses, weeks, per_week) =
        (as_i32(settings.courses)?, as_i32(settings.weeks)?, as_i32(settings.sessions_per_week)?);
    let (per_course, pool) = (as_i32(settings.students_per_course)?, as_i32(settings.students)?);
    let mut tx = db.begin().await?;
    macro_rules! run {
        ($what:expr, $query:expr $(,)?) => {
            $query.execute(&mut *tx).await.with_context(|| format!("seeding {}", $what))?.rows_affected()
        };
    }
    run!(
        "sessions",
        sqlx::query(SEED_SESSIONS).bind(&names.courses).bind(&names.people).bind(per_week).bind(weeks).bind(courses),
    );
    run!(
        "roster places",
        sqlx::query(SEED_PLACES).bind(&names.courses).bind(&names.people).bind(courses).bind(per_course).bind(pool),
    );
    // Teachers get the hash the importer made for the bench's own teacher
    // (same password, same parameters), so Login checks a real argon2id.
    figures.users = run!(
        "teachers",
        sqlx::query(
            "INSERT INTO users (school_number, full_name, role, password_hash)
             SELECT DISTINCT teacher, teacher_name, 'teacher',
                    (SELECT password_hash FROM users WHERE school_number = $1)
             FROM semester_sessions",
        )
        .bind(password_of),
    );
    figures.users += run!(
        "students",
        sqlx::query(
            "INSERT INTO users (school_number, full_name, role)
             SELECT $1 || 's' || lpad(p::text, 5, '0'), 'Semester Student ' || p, 'student'
             FROM generate_series(0, $2 - 1) AS p",
        )
        .bind(&names.people)
        .bind(pool),
    );
    figures.courses = run!(
        "courses",
        sqlx::query(
            "INSERT INTO courses (course_code, display_name)
             SELECT DISTINCT course_code, 'Semester Course ' || c FROM semester_sessions",
        ),
    );
    figures.course_teachers = run!(
        "course_teachers",
        sqlx::query(
            "INSERT INTO course_teachers (course_code, teacher_school_number)
             SELECT DISTINCT course_code, teacher FROM semester_sessions",
        ),
    );
    figures.enrolments = run!(
        "enrolments",
        sqlx::query(
            "INSERT INTO enrolments (course_code, student_number, enrolled_at)
             SELECT course_code, student_number, (SELECT min(start_time) FROM semester_sessions) - interval '1 week'
             FROM semester_places",
        ),
    );
    figures.attendances = run!(
        "attendances",
        sqlx::query(
            "INSERT INTO attendances (attendance_id, lesson_name, teacher_school_number, teacher_full_name,
                                      start_time, end_time, security_option, networks, course_code, time_zone,
                                      archived_at)
             SELECT attendance_id, lesson_name, teacher, teacher_name, start_time,
                    start_time + interval '50 minutes', 1, '{}', course_code, $1, start_time + interval '1 hour'
             FROM semester_sessions ORDER BY start_time, attendance_id",
        )
        .bind(TIME_ZONE),
    );
    figures.attendance_enrolments = run!(
        "attendance_enrolments",
        sqlx::query(
            "INSERT INTO attendance_enrolments (attendance_id, student_number, student_full_name)
             SELECT s.attendance_id, e.student_number, e.full_name
             FROM semester_sessions s JOIN semester_places e USING (c)
             ORDER BY s.start_time, s.attendance_id, e.student_number",
        ),
    );
    figures.attendance_records = run!("attendance_records", sqlx::query(SEED_RECORDS));
    let (attended, failed, excused): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE is_attended), count(*) FILTER (WHERE fail_code IS NOT NULL),
                count(*) FILTER (WHERE excuse_reason IS NOT NULL)
         FROM attendance_records WHERE attendance_id IN (SELECT attendance_id FROM semester_sessions)",
    )
    .fetch_one(&mut *tx)
    .await?;
    (figures.attended, figures.failed, figures.excused) = (attended as u64, failed as u64, excused as u64);
    figures.absent = figures.attendance_enrolments - figures.attendance_records;
    sqlx::query("DROP TABLE semester_sessions, semester_places").execute(&mut *tx).await?;
    tx.commit().await?;
    figures.secs = started.elapsed().as_secs_f64();

    // As autovacuum would have by the end of a real semester: statistics
    // for the planner, and the visibility map and hint bits set.
    let started = Instant::now();
    sqlx::raw_sql(
        "VACUUM (ANALYZE) users, courses, course_teachers, enrolments, attendances, attendance_enrolments, \
         attendance_records",
    )
    .execute(&mut *db)
    .await
    .context("VACUUM (ANALYZE) after the seed")?;
    figures.analyze_secs = started.elapsed().as_secs_f64();

    let expected = (settings.sessions_per_course() * settings.courses * settings.students_per_course) as u64;
    if figures.attendance_enrolments != expected {
        bail!("seeded {} roster places, expected {expected}", figures.attendance_enrolments);
    }
    Ok(figures)
}

// === the baselines' statements ===

/// The course's counted roster places, written as attendance-service's
/// own statements write them (`attn_store::Archive::course_counts` and
/// `course_register`): in archived, not deleted sessions of the course, each
/// student on the roster when it started or with a (not deleted) record there.
fn counted_places(course: &str) -> String {
    format!(
        "sessions AS (
             SELECT attendance_id, lesson_name, start_time, time_zone FROM attendances
             WHERE course_code = '{course}' AND NOT is_deleted
         ), expected AS (
             SELECT attendance_id, student_number FROM attendance_enrolments
             WHERE attendance_id IN (SELECT attendance_id FROM sessions)
             UNION
             SELECT attendance_id, student_number FROM attendance_records
             WHERE attendance_id IN (SELECT attendance_id FROM sessions) AND NOT is_deleted
         )"
    )
}

/// Every row the report counts (each enrolled student's places with the
/// record there), copied out as they are: what GetCourseReport reads, not
/// aggregated.
fn report_rows_sql(course: &str) -> String {
    format!(
        "COPY (WITH {places}
               SELECT e.student_number, u.full_name, x.attendance_id, r.is_attended, r.is_deleted, r.excuse_reason
               FROM enrolments e JOIN users u ON u.school_number = e.student_number
               JOIN expected x ON x.student_number = e.student_number
               LEFT JOIN attendance_records r
                      ON r.attendance_id = x.attendance_id AND r.student_number = x.student_number
               WHERE e.course_code = '{course}') TO STDOUT",
        places = counted_places(course)
    )
}

/// The register's rows, the columns the register is made from, in its
/// order (by student, then session start), copied out as they are.
fn register_sql(course: &str) -> String {
    format!(
        "COPY (WITH {places}
               SELECT e.student_number, u.full_name, s.attendance_id, s.lesson_name, s.start_time, s.time_zone,
                      r.is_attended, r.is_deleted, r.excuse_reason, r.fail_code, r.attendance_time
               FROM enrolments e JOIN users u ON u.school_number = e.student_number
               JOIN expected x ON x.student_number = e.student_number
               JOIN sessions s ON s.attendance_id = x.attendance_id
               LEFT JOIN attendance_records r
                      ON r.attendance_id = x.attendance_id AND r.student_number = x.student_number
               WHERE e.course_code = '{course}'
               ORDER BY e.student_number, s.start_time, s.attendance_id) TO STDOUT",
        places = counted_places(course)
    )
}

/// One COPY out (text format: a line per row), read to the end: (seconds,
/// rows, bytes).
async fn copy_once(db: &mut PgConnection, sql: &str) -> anyhow::Result<(f64, u64, u64)> {
    let started = Instant::now();
    let mut stream = db.copy_out_raw(sql).await?;
    let (mut lines, mut size) = (0u64, 0u64);
    while let Some(chunk) = stream.try_next().await? {
        lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        size += chunk.len() as u64;
    }
    drop(stream);
    Ok((started.elapsed().as_secs_f64(), lines, size))
}

/// The runs of one thing, collected into a [`Timed`].
struct Samples {
    what: &'static str,
    latencies_ms: Vec<f64>,
    rates: Vec<f64>,
    rows: u64,
    bytes: u64,
}

impl Samples {
    fn new(what: &'static str) -> Self {
        Self { what, latencies_ms: Vec::new(), rates: Vec::new(), rows: 0, bytes: 0 }
    }

    /// One run: `rows` in `secs`; `counted` false for a warm-up.
    fn add(&mut self, counted: bool, (secs, rows, bytes): (f64, u64, u64)) {
        (self.rows, self.bytes) = (rows, bytes);
        if counted {
            self.latencies_ms.push(secs * 1e3);
            self.rates.push(rows as f64 / secs.max(1e-9));
        }
    }

    fn done(self) -> Timed {
        Timed {
            what: self.what.to_owned(),
            runs: self.latencies_ms.len(),
            rows: self.rows,
            bytes: self.bytes,
            median_rows_per_sec: median(&self.rates).unwrap_or(0.0),
            latency: Percentiles::of(self.latencies_ms),
        }
    }
}

// === the calls ===

struct Measure<'a> {
    channel: Channel,
    teacher: Token,
    course: String,
    names: &'a Names,
    /// The measured course's index.
    measured: usize,
}

/// One student's expected counts in a course: (attended, excused, failed, absent).
fn expected_counts(settings: &SemesterSettings, course: usize, student: usize) -> [u32; 4] {
    let mut counts = [0; 4];
    for session in 0..settings.sessions_per_course() {
        let slot = match outcome(student, session, course) {
            Outcome::Attended => 0,
            Outcome::Excused => 1,
            Outcome::Failed => 2,
            Outcome::Absent => 3,
        };
        counts[slot] += 1;
    }
    counts
}

impl Measure<'_> {
    fn client(&self) -> TeacherServiceClient<Channel> {
        TeacherServiceClient::new(self.channel.clone()).max_decoding_message_size(64 << 20)
    }

    async fn get_report(&self) -> anyhow::Result<GetCourseReportResponse> {
        let request = GetCourseReportRequest { course_code: self.course.clone(), ..Default::default() };
        let answer = tokio::time::timeout(STUCK, self.client().get_course_report(authed(request, &self.teacher)))
            .await
            .context("GetCourseReport did not answer within a minute")??;
        Ok(answer.into_inner())
    }

    /// The whole export: (bytes, lines).
    async fn export(&self, per_session: bool, keep: bool) -> anyhow::Result<(Vec<u8>, u64, u64)> {
        let request = ExportCourseReportRequest { course_code: self.course.clone(), per_session, ..Default::default() };
        let work = async {
            let mut stream = self.client().export_course_report(authed(request, &self.teacher)).await?.into_inner();
            let (mut kept, mut lines, mut size) = (Vec::new(), 0u64, 0u64);
            while let Some(piece) = stream.message().await? {
                lines += piece.csv.iter().filter(|&&b| b == b'\n').count() as u64;
                size += piece.csv.len() as u64;
                if keep {
                    kept.extend_from_slice(&piece.csv);
                }
            }
            anyhow::Ok((kept, lines, size))
        };
        tokio::time::timeout(STUCK, work).await.context("ExportCourseReport did not finish within a minute")?
    }

    /// Every report row against the seed's rule.
    async fn check_report(&self, settings: &SemesterSettings) -> anyhow::Result<String> {
        let answer = self.get_report().await?;
        let sessions = settings.sessions_per_course();
        if answer.total_sessions as usize != sessions {
            bail!("total_sessions {}, seeded {sessions}", answer.total_sessions);
        }
        if answer.rows.len() != settings.students_per_course {
            bail!("{} rows, seeded {} enrolled students", answer.rows.len(), settings.students_per_course);
        }
        let mut want: BTreeMap<String, [u32; 4]> = (0..settings.students_per_course)
            .map(|j| {
                let p = student_of(settings, self.measured, j);
                (self.names.student(p), expected_counts(settings, self.measured, p))
            })
            .collect();
        let mut wrong = Vec::new();
        for row in &answer.rows {
            let got = [row.attended, row.excused, row.failed, row.absent];
            match want.remove(&row.student_number) {
                Some(expected) if expected == got && row.total_sessions as usize == sessions => {}
                Some(expected) => wrong.push(format!(
                    "{}: attended/excused/failed/absent {got:?} of {}, seeded {expected:?} of {sessions}",
                    row.student_number, row.total_sessions
                )),
                None => wrong.push(format!("{}: not enrolled in {}", row.student_number, self.course)),
            }
        }
        if !wrong.is_empty() {
            bail!("{} of {} rows differ from the seed, e.g. {}", wrong.len(), answer.rows.len(), wrong[0]);
        }
        let sum = |f: fn(&attn_proto::v1::CourseReportRow) -> u32| answer.rows.iter().map(f).sum::<u32>();
        Ok(format!(
            "GetCourseReport: {sessions} sessions, every one of the {} students' attended/excused/failed/absent as \
             seeded (course totals {} / {} / {} / {})",
            answer.rows.len(),
            sum(|r| r.attended),
            sum(|r| r.excused),
            sum(|r| r.failed),
            sum(|r| r.absent)
        ))
    }

    /// The register: sessions x students rows, each status as seeded.
    async fn check_register(&self, settings: &SemesterSettings) -> anyhow::Result<String> {
        let (csv, _, _) = self.export(true, true).await?;
        let text = String::from_utf8(csv).context("the register is not UTF-8")?;
        let mut lines = text.lines();
        let header = split_csv(lines.next().unwrap_or_default());
        let column = |name: &str| header.iter().position(|h| h == name);
        let (Some(number), Some(status)) = (column("student_number"), column("status")) else {
            bail!(
                "the register's header is {:?}, without a status column: the server sent the per-student report \
                 (per_session not implemented?)",
                header.join(",")
            );
        };
        let mut got: BTreeMap<String, [u32; 4]> = BTreeMap::new();
        let mut rows = 0usize;
        for line in lines.filter(|l| !l.is_empty()) {
            rows += 1;
            let cells = split_csv(line);
            let slot = match cells.get(status).map(|s| s.to_ascii_uppercase()).as_deref() {
                Some("ATTENDED") => 0,
                Some("EXCUSED") => 1,
                Some("FAILED") => 2,
                Some("ABSENT") => 3,
                other => bail!("register row {rows} has status {other:?}"),
            };
            got.entry(cells.get(number).cloned().unwrap_or_default()).or_default()[slot] += 1;
        }
        let want_rows = settings.sessions_per_course() * settings.students_per_course;
        if rows != want_rows {
            bail!(
                "{rows} register rows, expected {want_rows} ({} sessions x {} students)",
                settings.sessions_per_course(),
                settings.students_per_course
            );
        }
        let wrong = (0..settings.students_per_course)
            .map(|j| student_of(settings, self.measured, j))
            .find(|&p| got.get(&self.names.student(p)) != Some(&expected_counts(settings, self.measured, p)));
        if let Some(p) = wrong {
            let number = self.names.student(p);
            bail!(
                "{number}'s register statuses (attended/excused/failed/absent) {:?}, seeded {:?}",
                got.get(&number),
                expected_counts(settings, self.measured, p)
            );
        }
        Ok(format!(
            "ExportCourseReport per_session: {rows} rows = {} sessions x {} students, every status as seeded",
            settings.sessions_per_course(),
            settings.students_per_course
        ))
    }

    /// One GetCourseReport: (seconds, roster places counted, 0).
    async fn report_once(&self) -> anyhow::Result<(f64, u64, u64)> {
        let started = Instant::now();
        let answer = self.get_report().await?;
        let secs = started.elapsed().as_secs_f64();
        let places = answer.rows.iter().map(|row| u64::from(row.total_sessions)).sum();
        Ok((secs, places, 0))
    }

    /// One export: (seconds, CSV lines less the header, bytes).
    async fn export_once(&self, per_session: bool) -> anyhow::Result<(f64, u64, u64)> {
        let started = Instant::now();
        let (_, lines, size) = self.export(per_session, false).await?;
        Ok((started.elapsed().as_secs_f64(), lines.saturating_sub(1), size))
    }

    /// GetCourseReport and the COPY of the rows it counts, one after the
    /// other, `runs` times after `warm_up` untimed pairs.
    async fn report_pairs(&self, db: &mut PgConnection, warm_up: usize, runs: usize) -> anyhow::Result<[Timed; 2]> {
        let sql = report_rows_sql(&self.course);
        let mut attn = Samples::new("GetCourseReport");
        let mut copy = Samples::new("COPY of the rows the report counts");
        for i in 0..warm_up + runs {
            attn.add(i >= warm_up, self.report_once().await.context("GetCourseReport")?);
            copy.add(i >= warm_up, copy_once(db, &sql).await.context("COPY of the report's rows")?);
        }
        Ok([attn.done(), copy.done()])
    }

    /// The register export and the COPY of the register, one after the
    /// other, `runs` times after `warm_up` untimed pairs.
    async fn register_pairs(&self, db: &mut PgConnection, warm_up: usize, runs: usize) -> anyhow::Result<[Timed; 2]> {
        let sql = register_sql(&self.course);
        let mut attn = Samples::new("ExportCourseReport per_session");
        let mut copy = Samples::new("COPY of the register's rows");
        for i in 0..warm_up + runs {
            attn.add(i >= warm_up, self.export_once(true).await.context("ExportCourseReport per_session")?);
            copy.add(i >= warm_up, copy_once(db, &sql).await.context("COPY of the register")?);
        }
        Ok([attn.done(), copy.done()])
    }

    async fn plain_exports(&self, warm_up: usize, runs: usize) -> anyhow::Result<Timed> {
        let mut attn = Samples::new("ExportCourseReport");
        for i in 0..warm_up + runs {
            attn.add(i >= warm_up, self.export_once(false).await?);
        }
        Ok(attn.done())
    }
}

/// One CSV line's cells (quoted cells with "" inside; no line breaks in them).
fn split_csv(line: &str) -> Vec<String> {
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(ch) = chars.next() {
        match (ch, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            (ch, _) => cell.push(ch),
        }
    }
    cells.push(cell);
    cells
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_unquote() {
        assert_eq!(split_csv("a,\"b,c\",\"d\"\"e\",\r"), vec!["a", "b,c", "d\"e", ""]);
    }

    #[test]
    fn the_seed_rule_spreads_every_outcome() {
        let settings = SemesterSettings {
            weeks: 14,
            sessions_per_week: 3,
            courses: 40,
            students_per_course: 150,
            students: 1500,
            calls: 1,
            exports: 1,
        };
        let [attended, excused, failed, absent] = (0..150)
            .map(|j| expected_counts(&settings, 0, student_of(&settings, 0, j)))
            .fold([0; 4], |sum, c| [sum[0] + c[0], sum[1] + c[1], sum[2] + c[2], sum[3] + c[3]]);
        assert_eq!(attended + excused + failed + absent, 42 * 150);
        assert!(attended > 4000 && excused > 0 && failed > 0 && absent > 0);
    }
}

//! Courses: who teaches and who is enrolled in which, as the roster import
//! writes them and `ListCourses` and `StartAttendance` read them.

use std::collections::BTreeMap;

use attn_domain::{
    Role,
    course::CountedRecord,
    export::{RegisterLine, RegisterRecord},
};
use chrono::{DateTime, Utc};

use super::Archive;
use crate::StoreResult;

/// One person's whole list of courses, from a roster row: a teacher's
/// courses taught, a student's enrolments. It replaces what they had.
#[derive(Debug, Clone)]
pub struct PersonCourses {
    pub school_number: String,
    pub role: Role,
    /// Normalised codes (`attn_domain::course::course_code`).
    pub courses: Vec<String>,
}

/// What [`Archive::replace_courses`] changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CourseCounts {
    pub courses_created: u64,
    pub enrolments_added: u64,
    pub enrolments_dropped: u64,
    pub teachings_added: u64,
    pub teachings_dropped: u64,
}

impl std::ops::AddAssign for CourseCounts {
    fn add_assign(&mut self, other: Self) {
        self.courses_created += other.courses_created;
        self.enrolments_added += other.enrolments_added;
        self.enrolments_dropped += other.enrolments_dropped;
        self.teachings_added += other.teachings_added;
        self.teachings_dropped += other.teachings_dropped;
    }
}

/// A course as its teacher lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseSummary {
    pub code: String,
    pub name: String,
    pub enrolled: u64,
}

/// A course the caller teaches, with everyone enrolled in it, for opening
/// a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaughtCourse {
    pub code: String,
    pub name: String,
    /// (student number, full name), by number.
    pub students: Vec<(String, String)>,
}

/// One enrolled student's records among a course's counted sessions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentCourseCounts {
    pub student_number: String,
    pub full_name: String,
    /// The counted sessions: those the student was on the roster of when
    /// they started, or has a (not deleted) record in.
    pub counts: attn_domain::course::SessionCounts,
}

/// What a course report is made of, read in one statement (one snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseCountsReport {
    /// Archived, not deleted sessions of the course that started in the range.
    pub total_sessions: u32,
    /// Everyone enrolled now, by student number.
    pub students: Vec<StudentCourseCounts>,
}

/// One course a student is enrolled in, and one of its counted sessions
/// (`None`: the course has none yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudentCourseSession {
    pub course_code: String,
    pub course_name: String,
    pub session: Option<CourseSessionOfStudent>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseSessionOfStudent {
    pub attendance_id: uuid::Uuid,
    pub lesson_name: String,
    pub start_time: DateTime<Utc>,
    /// The session's time zone (`None`: UTC).
    pub time_zone: Option<String>,
    /// The student's record there, as a report counts it.
    pub record: Option<CountedRecord>,
}

impl Archive {
    /// Creates the courses named (`names`: code → display name, `None` for a
    /// course named by its code only: a new course is then called by its
    /// code, an existing one keeps its name), then replaces each person's
    /// list of courses, in one transaction. The people must exist.
    pub async fn replace_courses(
        &self,
        names: &BTreeMap<String, Option<String>>,
        people: &[PersonCourses],
    ) -> StoreResult<CourseCounts> {
        let mut counts = CourseCounts::default();
        let mut tx = self.begin().await?;
        if !names.is_empty() {
            let codes: Vec<&str> = names.keys().map(String::as_str).collect();
            let given: Vec<Option<&str>> = names.values().map(Option::as_deref).collect();
            counts.courses_created = sqlx::query!(
                r#"INSERT INTO courses (course_code, display_name)
                   SELECT code, COALESCE(name, code) FROM UNNEST($1::text[], $2::text[]) AS t(code, name)
                   ON CONFLICT (course_code) DO NOTHING"#,
                &codes as &[&str],
                &given as &[Option<&str>],
            )
            .execute(&mut *tx)
            .await?
            .rows_affected();
            sqlx::query!(
                r#"UPDATE courses SET display_name = t.name, updated_at = now()
                   FROM UNNEST($1::text[], $2::text[]) AS t(code, name)
                   WHERE courses.course_code = t.code AND t.name IS NOT NULL AND courses.display_name <> t.name"#,
                &codes as &[&str],
                &given as &[Option<&str>],
            )
            .execute(&mut *tx)
            .await?;
        }
        for role in [Role::Student, Role::Teacher] {
            let replaced: Vec<&str> =
                people.iter().filter(|p| p.role == role).map(|p| p.school_number.as_str()).collect();
            if replaced.is_empty() {
                continue;
            }
            let (pairs_people, pairs_codes): (Vec<&str>, Vec<&str>) = people
                .iter()
                .filter(|p| p.role == role)
                .flat_map(|p| p.courses.iter().map(move |code| (p.school_number.as_str(), code.as_str())))
                .unzip();
            let (dropped, added) = if role == Role::Student {
                let dropped = sqlx::query!(
                    r#"DELETE FROM enrolments e
                       WHERE e.student_number = ANY($1::text[])
                         AND NOT EXISTS (SELECT 1 FROM UNNEST($2::text[], $3::text[]) AS k(person, code)
                                         WHERE k.person = e.student_number AND k.code = e.course_code)"#,
                    &replaced as &[&str],
                    &pairs_people as &[&str],
                    &pairs_codes as &[&str],
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let added = sqlx::query!(
                    r#"INSERT INTO enrolments (student_number, course_code)
                       SELECT * FROM UNNEST($1::text[], $2::text[])
                       ON CONFLICT DO NOTHING"#,
                    &pairs_people as &[&str],
                    &pairs_codes as &[&str],
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                (dropped, added)
            } else {
                let dropped = sqlx::query!(
                    r#"DELETE FROM course_teachers t
                       WHERE t.teacher_school_number = ANY($1::text[])
                         AND NOT EXISTS (SELECT 1 FROM UNNEST($2::text[], $3::text[]) AS k(person, code)
                                         WHERE k.person = t.teacher_school_number AND k.code = t.course_code)"#,
                    &replaced as &[&str],
                    &pairs_people as &[&str],
                    &pairs_codes as &[&str],
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let added = sqlx::query!(
                    r#"INSERT INTO course_teachers (teacher_school_number, course_code)
                       SELECT * FROM UNNEST($1::text[], $2::text[])
                       ON CONFLICT DO NOTHING"#,
                    &pairs_people as &[&str],
                    &pairs_codes as &[&str],
                )
                .execute(&mut *tx)
                .await?
                .rows_affected();
                (dropped, added)
            };
            if role == Role::Student {
                counts.enrolments_dropped += dropped;
                counts.enrolments_added += added;
            } else {
                counts.teachings_dropped += dropped;
                counts.teachings_added += added;
            }
        }
        // Someone whose role changed keeps nothing of the old one: a
        // student teaches no course, a teacher (or admin) takes none.
        let of_role = |wanted: bool| -> Vec<&str> {
            people.iter().filter(|p| (p.role == Role::Student) == wanted).map(|p| p.school_number.as_str()).collect()
        };
        let (students, others) = (of_role(true), of_role(false));
        counts.teachings_dropped += sqlx::query!(
            "DELETE FROM course_teachers WHERE teacher_school_number = ANY($1::text[])",
            &students as &[&str]
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        counts.enrolments_dropped +=
            sqlx::query!("DELETE FROM enrolments WHERE student_number = ANY($1::text[])", &others as &[&str])
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(counts)
    }

    /// The courses a teacher teaches, by code, with how many students each has.
    pub async fn teacher_courses(&self, teacher: &str) -> StoreResult<Vec<CourseSummary>> {
        let mut work = self.work().await?;
        let rows = sqlx::query!(
            r#"SELECT c.course_code, c.display_name,
                      (SELECT count(*) FROM enrolments e WHERE e.course_code = c.course_code) AS "enrolled!"
               FROM course_teachers t JOIN courses c ON c.course_code = t.course_code
               WHERE t.teacher_school_number = $1
               ORDER BY c.course_code"#,
            teacher
        )
        .fetch_all(&mut *work)
        .await?;
        work.done().await?;
        Ok(rows
            .into_iter()
            .map(|row| CourseSummary {
                code: row.course_code,
                name: row.display_name,
                enrolled: u64::try_from(row.enrolled).unwrap_or(0),
            })
            .collect())
    }

    /// A course `teacher` teaches, with its students; `None` if there is no
    /// such course or the teacher does not teach it (the two read the same).
    pub async fn taught_course(&self, teacher: &str, code: &str) -> StoreResult<Option<TaughtCourse>> {
        let mut tx = self.begin().await?;
        let name = sqlx::query_scalar!(
            r#"SELECT c.display_name
               FROM course_teachers t JOIN courses c ON c.course_code = t.course_code
               WHERE t.teacher_school_number = $1 AND t.course_code = $2"#,
            teacher,
            code
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(name) = name else {
            tx.commit().await?;
            return Ok(None);
        };
        let students = sqlx::query!(
            r#"SELECT e.student_number, u.full_name
               FROM enrolments e JOIN users u ON u.school_number = e.student_number
               WHERE e.course_code = $1 ORDER BY e.student_number"#,
            code
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|row| (row.student_number, row.full_name))
        .collect();
        tx.commit().await?;
        Ok(Some(TaughtCourse { code: code.to_owned(), name, students }))
    }

    /// The counts behind `GetCourseReport` for course `code`, sessions that
    /// started in `[from, to)` (either end open when `None`).
    pub async fn course_counts(
        &self,
        code: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
    ) -> StoreResult<CourseCountsReport> {
        let mut work = self.work().await?;
        // `total` is one row whatever the enrolment, so an empty course
        // still says how many sessions it had. A session counts for a
        // student who was on its roster when it started (enrolled then) or
        // has a record there that was not deleted (a walk-in): one enrolled
        // in week 5 is not absent in weeks 1 to 4.
        let rows = sqlx::query!(
            r#"WITH sessions AS (
                   SELECT attendance_id FROM attendances
                   WHERE course_code = $1 AND NOT is_deleted
                     AND ($2::timestamptz IS NULL OR start_time >= $2)
                     AND ($3::timestamptz IS NULL OR start_time < $3)
               ), total AS (SELECT count(*) AS sessions FROM sessions),
               expected AS (
                   SELECT attendance_id, student_number FROM attendance_enrolments
                   WHERE attendance_id IN (SELECT attendance_id FROM sessions)
                   UNION
                   SELECT attendance_id, student_number FROM attendance_records
                   WHERE attendance_id IN (SELECT attendance_id FROM sessions) AND NOT is_deleted
               )
               SELECT total.sessions AS "total_sessions!",
                      e.student_number AS "student_number?", u.full_name AS "full_name?",
                      count(x.attendance_id) AS "expected!",
                      count(r.attendance_id) FILTER (WHERE r.is_attended AND NOT r.is_deleted) AS "attended!",
                      count(r.attendance_id) FILTER (WHERE NOT r.is_attended AND NOT r.is_deleted
                                                       AND r.excuse_reason IS NOT NULL) AS "excused!",
                      count(r.attendance_id) FILTER (WHERE NOT r.is_attended AND NOT r.is_deleted
                                                       AND r.excuse_reason IS NULL) AS "failed!"
               FROM total
               LEFT JOIN (enrolments e JOIN users u ON u.school_number = e.student_number)
                      ON e.course_code = $1
               LEFT JOIN expected x ON x.student_number = e.student_number
               LEFT JOIN attendance_records r
                      ON r.attendance_id = x.attendance_id AND r.student_number = x.student_number
               GROUP BY total.sessions, e.student_number, u.full_name
               ORDER BY e.student_number"#,
            code,
            from,
            to
        )
        .fetch_all(&mut *work)
        .await?;
        work.done().await?;
        let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
        let total_sessions = rows.first().map_or(0, |row| count(row.total_sessions));
        let students = rows
            .into_iter()
            .filter_map(|row| {
                Some(StudentCourseCounts {
                    student_number: row.student_number?,
                    full_name: row.full_name.unwrap_or_default(),
                    counts: attn_domain::course::SessionCounts {
                        attended: count(row.attended),
                        excused: count(row.excused),
                        failed: count(row.failed),
                        total: count(row.expected),
                    },
                })
            })
            .collect();
        Ok(CourseCountsReport { total_sessions, students })
    }

    /// The course register: every enrolled student in every counted session
    /// of course `code` that started in `[from, to)`, by student then
    /// session start, sent to `lines` as PostgreSQL sends them (one
    /// statement, never all in memory; the channel's bound is the
    /// backpressure). Stops early once the receiver is gone.
    pub async fn course_register(
        &self,
        code: &str,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        lines: tokio::sync::mpsc::Sender<RegisterLine>,
    ) -> StoreResult<()> {
        use futures::TryStreamExt as _;
        let mut work = self.work().await?;
        {
            let mut rows = sqlx::query!(
                r#"WITH sessions AS (
                       SELECT attendance_id, lesson_name, start_time, time_zone FROM attendances
                       WHERE course_code = $1 AND NOT is_deleted
                         AND ($2::timestamptz IS NULL OR start_time >= $2)
                         AND ($3::timestamptz IS NULL OR start_time < $3)
                   ), expected AS (
                       SELECT attendance_id, student_number FROM attendance_enrolments
                       WHERE attendance_id IN (SELECT attendance_id FROM sessions)
                       UNION
                       SELECT attendance_id, student_number FROM attendance_records
                       WHERE attendance_id IN (SELECT attendance_id FROM sessions) AND NOT is_deleted
                   )
                   SELECT e.student_number, u.full_name, s.attendance_id, s.lesson_name, s.start_time,
                          s.time_zone, r.is_attended AS "is_attended?", r.is_deleted AS "is_deleted?",
                          r.excuse_reason, r.fail_code, r.attendance_time
                   FROM enrolments e
                   JOIN users u ON u.school_number = e.student_number
                   JOIN expected x ON x.student_number = e.student_number
                   JOIN sessions s ON s.attendance_id = x.attendance_id
                   LEFT JOIN attendance_records r
                          ON r.attendance_id = x.attendance_id AND r.student_number = x.student_number
                   WHERE e.course_code = $1
                   ORDER BY e.student_number, s.start_time, s.attendance_id"#,
                code,
                from,
                to
            )
            .fetch(&mut *work);
            while let Some(row) = rows.try_next().await? {
                let record = row.is_attended.zip(row.is_deleted).map(|(is_attended, is_deleted)| RegisterRecord {
                    is_attended,
                    is_deleted,
                    excuse_reason: row.excuse_reason,
                    fail_code: row.fail_code,
                    attendance_time: row.attendance_time,
                });
                let line = RegisterLine {
                    student_number: row.student_number,
                    student_full_name: row.full_name,
                    attendance_id: row.attendance_id.to_string(),
                    lesson_name: row.lesson_name,
                    start_time: row.start_time,
                    time_zone: row.time_zone,
                    record,
                };
                if lines.send(line).await.is_err() {
                    break;
                }
            }
        }
        work.done().await
    }

    /// Every course `student` is enrolled in with each of its archived, not
    /// deleted sessions the student was on the roster of or has a record
    /// in (newest first, as the course report counts them) and the
    /// student's record there.
    pub async fn student_course_sessions(&self, student: &str) -> StoreResult<Vec<StudentCourseSession>> {
        let mut work = self.work().await?;
        let rows = sqlx::query!(
            r#"SELECT c.course_code, c.display_name,
                      a.attendance_id AS "attendance_id?", a.lesson_name AS "lesson_name?",
                      a.start_time AS "start_time?", a.time_zone AS "time_zone?",
                      r.is_attended AS "is_attended?", r.is_deleted AS "record_deleted?",
                      r.excuse_reason AS "excuse_reason?"
               FROM enrolments e
               JOIN courses c ON c.course_code = e.course_code
               LEFT JOIN attendances a
                      ON a.course_code = e.course_code AND NOT a.is_deleted
                     AND (EXISTS (SELECT 1 FROM attendance_enrolments ae
                                  WHERE ae.attendance_id = a.attendance_id AND ae.student_number = e.student_number)
                          OR EXISTS (SELECT 1 FROM attendance_records rr
                                     WHERE rr.attendance_id = a.attendance_id AND rr.student_number = e.student_number
                                       AND NOT rr.is_deleted))
               LEFT JOIN attendance_records r
                      ON r.attendance_id = a.attendance_id AND r.student_number = e.student_number
               WHERE e.student_number = $1
               ORDER BY c.course_code, a.start_time DESC"#,
            student
        )
        .fetch_all(&mut *work)
        .await?;
        work.done().await?;
        Ok(rows
            .into_iter()
            .map(|row| StudentCourseSession {
                course_code: row.course_code,
                course_name: row.display_name,
                session: match (row.attendance_id, row.lesson_name, row.start_time) {
                    (Some(attendance_id), Some(lesson_name), Some(start_time)) => Some(CourseSessionOfStudent {
                        attendance_id,
                        lesson_name,
                        start_time,
                        time_zone: row.time_zone,
                        record: row.is_attended.zip(row.record_deleted).map(|(is_attended, is_deleted)| {
                            CountedRecord { is_attended, is_deleted, is_excused: row.excuse_reason.is_some() }
                        }),
                    }),
                    _ => None,
                },
            })
            .collect())
    }
}

//! Courses: the code a roster and `StartAttendance` name a course by.
//!
//! A course code is 1 to 32 characters of ASCII letters, digits, `-`, `_`
//! and `.`; surrounding spaces are ignored and letters are upper-cased, so
//! `cs101`, ` CS101 ` and `Cs101` are one course everywhere (the roster, the
//! archive, `StartAttendance`, the answers). The archive's `courses` table
//! checks the same shape.

use crate::{Invalid, invalid::quoted, validate};

pub const COURSE_CODE_MAX_CHARS: usize = 32;
/// A course's display name: as long as a lesson name, since a course
/// session's lesson name defaults to it.
pub const COURSE_NAME_MAX_CHARS: usize = validate::LESSON_NAME_MAX_CHARS;

/// The normalised code (trimmed, upper case), or why it is not one.
pub fn course_code(field: &'static str, value: &str) -> Result<String, Invalid> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    let chars = value.chars().count();
    if chars > COURSE_CODE_MAX_CHARS {
        return Err(Invalid::new(field, format!("must be at most {COURSE_CODE_MAX_CHARS} characters, not {chars}")));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Err(Invalid::new(
            field,
            format!("{} may contain only letters, digits, '-', '_' and '.'", quoted(value)),
        ));
    }
    Ok(value.to_ascii_uppercase())
}

/// A course named in a roster's `courses` cell: its code and, when the cell
/// gave one (`CODE=Display name`), its display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CourseRef {
    pub code: String,
    pub name: Option<String>,
}

/// A roster's `courses` cell: course codes separated by `;`, each optionally
/// followed by `=` and the course's display name. Empty items (a trailing
/// `;`) are skipped; a code named twice counts once (the last name given
/// wins). An empty cell is no courses.
pub fn parse_courses_cell(cell: &str) -> Result<Vec<CourseRef>, Invalid> {
    let mut courses: Vec<CourseRef> = Vec::new();
    for item in cell.split(';') {
        if item.trim().is_empty() {
            continue;
        }
        let (code, name) = match item.split_once('=') {
            Some((code, name)) => (code, Some(name)),
            None => (item, None),
        };
        let code = course_code("courses", code)?;
        let name = match name.map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(course_name(&code, name)?),
        };
        match courses.iter_mut().find(|course| course.code == code) {
            Some(seen) => seen.name = name.or(seen.name.take()),
            None => courses.push(CourseRef { code, name }),
        }
    }
    Ok(courses)
}

fn course_name(code: &str, name: &str) -> Result<String, Invalid> {
    let chars = name.chars().count();
    if chars > COURSE_NAME_MAX_CHARS {
        return Err(Invalid::new(
            "courses",
            format!("the name of {code} must be at most {COURSE_NAME_MAX_CHARS} characters, not {chars}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid::new("courses", format!("the name of {code} must not contain control characters")));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_code_is_trimmed_and_upper_cased() {
        assert_eq!(course_code("c", " cs101 ").unwrap(), "CS101");
        assert_eq!(course_code("c", "Math-2.b_x").unwrap(), "MATH-2.B_X");
    }

    #[test]
    fn a_code_of_thirty_two_characters_is_the_longest() {
        assert!(course_code("c", &"A".repeat(32)).is_ok());
        assert!(course_code("c", &"A".repeat(33)).unwrap_err().message.contains("at most 32"));
    }

    #[test]
    fn spaces_inside_punctuation_and_non_ascii_letters_are_refused() {
        for bad in ["CS 101", "CS/101", "CS;101", "CÅ101", "{a}", "CS\t101"] {
            assert_eq!(course_code("course_code", bad).unwrap_err().field, "course_code", "{bad:?}");
        }
    }

    #[test]
    fn an_empty_code_is_required() {
        assert_eq!(course_code("course_code", "  ").unwrap_err().message, "is required");
    }

    #[test]
    fn a_cell_lists_codes_with_optional_names() {
        let courses = parse_courses_cell("cs101=Intro to Programming; math2 ;;").unwrap();
        assert_eq!(
            courses,
            vec![
                CourseRef { code: "CS101".into(), name: Some("Intro to Programming".into()) },
                CourseRef { code: "MATH2".into(), name: None },
            ]
        );
    }

    #[test]
    fn an_empty_cell_is_no_courses() {
        assert!(parse_courses_cell("").unwrap().is_empty());
        assert!(parse_courses_cell(" ; ").unwrap().is_empty());
    }

    #[test]
    fn a_code_named_twice_counts_once_and_keeps_a_name() {
        let courses = parse_courses_cell("CS101=Intro;cs101").unwrap();
        assert_eq!(courses, vec![CourseRef { code: "CS101".into(), name: Some("Intro".into()) }]);
    }

    #[test]
    fn a_bad_code_in_a_cell_is_named() {
        let err = parse_courses_cell("CS101;CS 102").unwrap_err();
        assert_eq!(err.field, "courses");
        assert!(err.message.contains("CS 102"), "{err}");
    }
}

/// One enrolled student's attendance over a course's sessions.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportRow {
    pub student_number: String,
    pub student_full_name: String,
    pub attended: u32,
    pub excused: u32,
    pub failed: u32,
    /// Sessions the student was expected at without a record, or whose
    /// record the teacher deleted.
    pub absent: u32,
    pub total_sessions: u32,
    /// Attended and excused out of the sessions; `None` when there were none.
    pub percent: Option<f64>,
    /// Under the warning threshold (never without sessions).
    pub below_warning: bool,
}

/// How a student's sessions of a course went, as PostgreSQL counts them:
/// `total` sessions the student was expected at (on the roster when the
/// session started, or with a record), of which so many were attended,
/// excused and failed; the rest are absences.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionCounts {
    pub attended: u32,
    pub excused: u32,
    pub failed: u32,
    pub total: u32,
}

impl SessionCounts {
    /// Adds one session's outcome.
    pub fn count(&mut self, outcome: SessionOutcome) {
        self.total += 1;
        match outcome {
            SessionOutcome::Attended => self.attended += 1,
            SessionOutcome::Excused => self.excused += 1,
            SessionOutcome::Failed => self.failed += 1,
            SessionOutcome::Absent => {}
        }
    }
}

pub fn report_row(
    student_number: String,
    student_full_name: String,
    counts: SessionCounts,
    warning_percent: u32,
) -> ReportRow {
    let SessionCounts { attended, excused, failed, total } = counts;
    // Counts come from the same sessions, so they never exceed the total;
    // clamp anyway rather than underflow on a surprise.
    let absent = total.saturating_sub(attended.saturating_add(excused).saturating_add(failed));
    let present = attended.saturating_add(excused).min(total);
    let percent = (total > 0).then(|| f64::from(present) * 100.0 / f64::from(total));
    let below_warning = percent.is_some_and(|percent| percent < f64::from(warning_percent));
    ReportRow {
        student_number,
        student_full_name,
        attended,
        excused,
        failed,
        absent,
        total_sessions: total,
        percent,
        below_warning,
    }
}

/// How a report's rows are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReportOrder {
    #[default]
    StudentNumber,
    /// Lowest first (the students to talk to), then by student number;
    /// students without sessions last.
    PercentAscending,
}

pub fn sort_report(rows: &mut [ReportRow], order: ReportOrder) {
    match order {
        ReportOrder::StudentNumber => rows.sort_by(|a, b| a.student_number.cmp(&b.student_number)),
        ReportOrder::PercentAscending => rows.sort_by(|a, b| {
            let key = |row: &ReportRow| row.percent.unwrap_or(f64::INFINITY);
            key(a).total_cmp(&key(b)).then_with(|| a.student_number.cmp(&b.student_number))
        }),
    }
}

/// How one counted session went for a student.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionOutcome {
    Attended,
    Excused,
    Failed,
    Absent,
}

/// What a report reads of a student's record in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedRecord {
    pub is_attended: bool,
    pub is_deleted: bool,
    pub is_excused: bool,
}

/// From the student's record in the session, if any. As a report counts
/// it: a deleted record is an absence.
pub fn session_outcome(record: Option<CountedRecord>) -> SessionOutcome {
    match record {
        None | Some(CountedRecord { is_deleted: true, .. }) => SessionOutcome::Absent,
        Some(CountedRecord { is_attended: true, .. }) => SessionOutcome::Attended,
        Some(CountedRecord { is_excused: true, .. }) => SessionOutcome::Excused,
        Some(_) => SessionOutcome::Failed,
    }
}

#[cfg(test)]
mod report_tests {
    use super::*;

    fn row(number: &str, attended: u32, failed: u32, total: u32) -> ReportRow {
        report_row(
            number.into(),
            format!("Student {number}"),
            SessionCounts { attended, excused: 0, failed, total },
            70,
        )
    }

    #[test]
    fn the_rest_of_the_sessions_are_absences_and_the_percentage_is_of_all_sessions() {
        let r = row("s1", 6, 1, 10);
        assert_eq!((r.attended, r.failed, r.absent, r.excused), (6, 1, 3, 0));
        assert_eq!(r.percent, Some(60.0));
        assert!(r.below_warning, "60 % is under 70 %");
        let r = row("s2", 7, 0, 10);
        assert!(!r.below_warning, "exactly the threshold is not under it");
    }

    #[test]
    fn without_sessions_there_is_no_percentage_and_no_warning() {
        let r = row("s1", 0, 0, 0);
        assert_eq!((r.percent, r.below_warning, r.absent), (None, false, 0));
    }

    #[test]
    fn counts_over_the_total_do_not_underflow() {
        assert_eq!(row("s1", 3, 2, 4).absent, 0);
    }

    #[test]
    fn rows_sort_by_number_or_lowest_percentage_first() {
        let mut rows = vec![row("s3", 9, 0, 10), row("s1", 5, 0, 10), row("s2", 5, 0, 10), row("s0", 0, 0, 0)];
        sort_report(&mut rows, ReportOrder::PercentAscending);
        let order: Vec<&str> = rows.iter().map(|r| r.student_number.as_str()).collect();
        assert_eq!(order, ["s1", "s2", "s3", "s0"]);
        sort_report(&mut rows, ReportOrder::StudentNumber);
        let order: Vec<&str> = rows.iter().map(|r| r.student_number.as_str()).collect();
        assert_eq!(order, ["s0", "s1", "s2", "s3"]);
    }

    #[test]
    fn excused_sessions_count_as_present_and_not_as_absences() {
        let r =
            report_row("s1".into(), "Ada".into(), SessionCounts { attended: 5, excused: 2, failed: 1, total: 10 }, 70);
        assert_eq!((r.attended, r.excused, r.failed, r.absent), (5, 2, 1, 2));
        assert_eq!(r.percent, Some(70.0));
        assert!(!r.below_warning);
    }

    #[test]
    fn a_session_is_attended_excused_failed_or_else_absent() {
        let record = |is_attended, is_deleted, is_excused| Some(CountedRecord { is_attended, is_deleted, is_excused });
        assert_eq!(session_outcome(record(true, false, false)), SessionOutcome::Attended);
        assert_eq!(session_outcome(record(false, false, false)), SessionOutcome::Failed);
        assert_eq!(session_outcome(record(false, false, true)), SessionOutcome::Excused);
        assert_eq!(session_outcome(record(true, true, false)), SessionOutcome::Absent);
        assert_eq!(session_outcome(record(false, true, true)), SessionOutcome::Absent);
        assert_eq!(session_outcome(None), SessionOutcome::Absent);
        let mut counts = SessionCounts::default();
        for outcome in [SessionOutcome::Attended, SessionOutcome::Excused, SessionOutcome::Absent] {
            counts.count(outcome);
        }
        assert_eq!(counts, SessionCounts { attended: 1, excused: 1, failed: 0, total: 3 });
    }
}

//! The roster file an operator imports: CSV with a header row.
//!
//! Columns: `school_number`, `full_name`, `role` (teacher, student or admin),
//! and optionally `photo_url`, `password` and `courses`. Column order is
//! free; extra columns are ignored; a row that ends early has empty cells for
//! the rest. A row with no password creates a user who appears on rosters but
//! cannot sign in until given one.
//!
//! `courses` (see [`crate::course::parse_courses_cell`]): the courses a
//! teacher teaches or a student is enrolled in, `;`-separated codes, each
//! optionally `CODE=Display name`. The cell replaces the person's list: an
//! empty cell means no courses. A file without the column leaves everyone's
//! courses as they are. An admin may not have courses.

use serde::Deserialize;

use crate::{
    Role,
    course::{CourseRef, parse_courses_cell},
    validate,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub school_number: String,
    pub full_name: String,
    pub role: Role,
    pub photo_url: Option<String>,
    pub password: Option<String>,
    /// `None`: the file has no `courses` column, so the person's courses stay
    /// as they are; `Some(empty)`: the person has no courses.
    pub courses: Option<Vec<CourseRef>>,
}

/// One bad row: its line in the file and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterError {
    pub line: u64,
    pub message: String,
}

#[derive(Deserialize)]
struct Row {
    school_number: String,
    full_name: String,
    role: String,
    #[serde(default)]
    photo_url: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    courses: Option<String>,
}

/// Parses the whole file; returns every good entry and every bad row, so an
/// operator can fix all mistakes in one pass.
pub fn parse_roster(csv_text: &str) -> (Vec<RosterEntry>, Vec<RosterError>) {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(csv_text.as_bytes());
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(err) => {
            errors.push(RosterError { line: 1, message: format!("unreadable header row: {err}") });
            return (entries, errors);
        }
    };
    let has_courses = headers.iter().any(|header| header == "courses");
    let mut lines = Lines { text: csv_text.as_bytes(), counted_to: 0, line: 1 };
    for result in reader.records() {
        let (position, result) = match result {
            Ok(mut record) => {
                // A short row lacks its last cells: they are empty, as a
                // spreadsheet would write them, even in a column we ignore.
                while record.len() < headers.len() {
                    record.push_field("");
                }
                (record.position().cloned(), record.deserialize::<Row>(Some(&headers)))
            }
            Err(err) => (err.position().cloned(), Err(err)),
        };
        let line = position.map_or(0, |position| lines.of_record_at(position.byte()));
        let outcome = result
            .map_err(|err| format!("unreadable row: {}", without_position(&err)))
            .and_then(|row| entry_from_row(row, has_courses));
        match outcome {
            Ok(entry) if !seen.insert(entry.school_number.clone()) => errors.push(RosterError {
                line,
                message: format!("school_number {} appears more than once", entry.school_number),
            }),
            Ok(entry) => entries.push(entry),
            Err(message) => errors.push(RosterError { line, message }),
        }
    }
    (entries, errors)
}

/// Line numbers as an editor shows them (`\n`, `\r\n` or a lone `\r` ends a
/// line). csv's own count is off on CRLF and CR files and after blank
/// lines: it is the line where the previous record ended. So each row's
/// line is counted here from the row's byte offset.
struct Lines<'a> {
    text: &'a [u8],
    counted_to: usize,
    line: u64,
}

impl Lines<'_> {
    /// The line on which the record that csv placed at `byte` starts. csv's
    /// offset is where the previous record ended, before the line ends and
    /// blank lines it skipped. Records come in order, so each call counts
    /// only the text since the last one.
    fn of_record_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte).map_or(self.text.len(), |byte| byte.min(self.text.len()));
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        for at in self.counted_to..start {
            let ends_line = match self.text[at] {
                b'\n' => true,
                b'\r' => self.text.get(at + 1) != Some(&b'\n'),
                _ => false,
            };
            self.line += u64::from(ends_line);
        }
        self.counted_to = self.counted_to.max(start);
        self.line
    }
}

/// csv's error without its own position, whose line may be wrong (see [`Lines`]).
fn without_position(err: &csv::Error) -> String {
    match err.kind() {
        csv::ErrorKind::Deserialize { err, .. } => err.to_string(),
        _ => err.to_string(),
    }
}

fn entry_from_row(row: Row, has_courses: bool) -> Result<RosterEntry, String> {
    let school_number = validate::school_number("school_number", &row.school_number).map_err(|e| e.to_string())?;
    let full_name = validate::full_name("full_name", &row.full_name).map_err(|e| e.to_string())?;
    let role =
        Role::parse(&row.role).ok_or_else(|| format!("role: must be teacher, student or admin, not {:?}", row.role))?;
    let photo_url = row.photo_url.filter(|url| !url.is_empty());
    if let Some(url) = &photo_url
        && !(url.starts_with("http://") || url.starts_with("https://"))
    {
        return Err(format!("photo_url: must be an http(s) URL, not {url:?}"));
    }
    let courses = if has_courses {
        let courses = parse_courses_cell(row.courses.as_deref().unwrap_or("")).map_err(|e| e.to_string())?;
        if role == Role::Admin && !courses.is_empty() {
            return Err("courses: only teachers and students have courses".into());
        }
        Some(courses)
    } else {
        None
    };
    Ok(RosterEntry {
        school_number,
        full_name,
        role,
        photo_url,
        password: row.password.filter(|p| !p.is_empty()),
        courses,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_good_file_parses_in_any_column_order() {
        let (entries, errors) = parse_roster(
            "role,full_name,school_number,password,photo_url\n\
             teacher, Grace Hopper ,t100,secret,\n\
             student,Ada Lovelace,s200,,https://photos.example/s200.jpg\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].full_name, "Grace Hopper");
        assert_eq!(entries[0].role, Role::Teacher);
        assert_eq!(entries[0].password.as_deref(), Some("secret"));
        assert_eq!(entries[1].password, None);
        assert_eq!(entries[1].photo_url.as_deref(), Some("https://photos.example/s200.jpg"));
    }

    #[test]
    fn optional_columns_may_be_missing() {
        let (entries, errors) = parse_roster("school_number,full_name,role\ns1,A B,student\n");
        assert!(errors.is_empty());
        assert_eq!(entries[0].photo_url, None);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let (entries, errors) = parse_roster(
            "school_number,full_name,role\n\
             s1,Ada,student\n\
             s 2,Bad Number,student\n\
             s3,,student\n\
             s4,Who,dean\n\
             s1,Ada Again,student\n",
        );
        assert_eq!(entries.len(), 1);
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6], "{errors:?}");
        assert!(errors[2].message.contains("dean"));
        assert!(errors[3].message.contains("more than once"));
    }

    #[test]
    fn rows_are_reported_on_their_own_lines_in_crlf_and_cr_files_and_after_blank_lines() {
        // Found by the roster property test: csv counted CRLF rows one line early.
        for line_end in ["\n", "\r\n", "\r"] {
            let text =
                ["school_number,full_name,role", "s1,Ada,dean", "", "", "s2,\"Grace", "Hopper\",dean", "s3,Al,dean"]
                    .join(line_end);
            let (_, errors) = parse_roster(&text);
            let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
            assert_eq!(lines, vec![2, 5, 7], "{line_end:?}: {errors:?}");
        }
    }

    #[test]
    fn an_unreadable_row_is_explained_without_a_second_line_number() {
        let (_, errors) = parse_roster("school_number,full_name\r\n\r\ns1,Ada\r\n");
        assert_eq!(errors[0].line, 3);
        assert_eq!(errors[0].message, "unreadable row: missing field `role`");
    }

    #[test]
    fn a_row_without_a_cell_for_an_ignored_column_is_imported() {
        // Found by the roster property test: the short row was "unreadable".
        let (entries, errors) = parse_roster("school_number,full_name,role,notes\ns1,Ada,student\ns2,Al,student,x\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(entries.len(), 2);
    }

    #[test]
    fn a_row_cut_short_before_a_required_cell_says_which() {
        let (_, errors) = parse_roster("school_number,full_name,role\ns1,Ada\n");
        assert_eq!(errors[0].line, 2);
        assert!(errors[0].message.starts_with("role:"), "{errors:?}");
    }

    #[test]
    fn a_missing_required_column_is_reported() {
        let (entries, errors) = parse_roster("school_number,full_name\ns1,Ada\n");
        assert!(entries.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("role"), "{errors:?}");
    }

    #[test]
    fn a_file_without_a_courses_column_leaves_courses_alone() {
        let (entries, _) = parse_roster("school_number,full_name,role\ns1,Ada,student\n");
        assert_eq!(entries[0].courses, None);
    }

    #[test]
    fn a_courses_cell_lists_codes_and_an_empty_one_means_none() {
        let (entries, errors) = parse_roster(
            "school_number,full_name,role,courses\n\
             t1,Grace,teacher,cs101=Intro to Programming;MATH2\n\
             s1,Ada,student,CS101\n\
             s2,Al,student,\n\
             s3,Bo,student\n",
        );
        assert!(errors.is_empty(), "{errors:?}");
        let codes = |entry: &RosterEntry| {
            entry.courses.as_ref().map(|courses| courses.iter().map(|c| c.code.clone()).collect::<Vec<_>>())
        };
        assert_eq!(codes(&entries[0]), Some(vec!["CS101".to_owned(), "MATH2".to_owned()]));
        assert_eq!(entries[0].courses.as_ref().unwrap()[0].name.as_deref(), Some("Intro to Programming"));
        assert_eq!(codes(&entries[1]), Some(vec!["CS101".to_owned()]));
        assert_eq!(codes(&entries[2]), Some(vec![]));
        // A short row has an empty cell: no courses, not "unchanged".
        assert_eq!(codes(&entries[3]), Some(vec![]));
    }

    #[test]
    fn a_bad_course_code_is_reported_with_its_line() {
        let (entries, errors) = parse_roster(
            "school_number,full_name,role,courses\n\
             s1,Ada,student,CS101\n\
             s2,Al,student,CS101;bad code\n\
             a1,Root,admin,CS101\n",
        );
        assert_eq!(entries.len(), 1);
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4], "{errors:?}");
        assert!(errors[0].message.starts_with("courses:"), "{errors:?}");
        assert!(errors[0].message.contains("bad code"), "{errors:?}");
        assert!(errors[1].message.contains("only teachers and students"), "{errors:?}");
    }

    #[test]
    fn a_photo_url_must_be_http() {
        let (_, errors) = parse_roster("school_number,full_name,role,photo_url\ns1,Ada,student,file:///etc/passwd\n");
        assert!(errors[0].message.contains("photo_url"));
    }
}

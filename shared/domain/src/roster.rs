//! The roster file an operator imports: CSV with a header row.
//!
//! Columns: `school_number`, `full_name`, `role` (teacher, student or admin),
//! and optionally `photo_url` and `password`. Column order is free; extra
//! columns are ignored. A row with no password creates a user who appears on
//! rosters but cannot sign in until given one.

use serde::Deserialize;

use crate::{Role, validate};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RosterEntry {
    pub school_number: String,
    pub full_name: String,
    pub role: Role,
    pub photo_url: Option<String>,
    pub password: Option<String>,
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
    for result in reader.records() {
        let (line, result) = match result {
            Ok(record) => (record.position().map_or(0, csv::Position::line), record.deserialize::<Row>(Some(&headers))),
            Err(err) => (err.position().map_or(0, csv::Position::line), Err(err)),
        };
        let outcome = result.map_err(|err| format!("unreadable row: {err}")).and_then(entry_from_row);
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

fn entry_from_row(row: Row) -> Result<RosterEntry, String> {
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
    Ok(RosterEntry { school_number, full_name, role, photo_url, password: row.password.filter(|p| !p.is_empty()) })
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
    fn a_missing_required_column_is_reported() {
        let (entries, errors) = parse_roster("school_number,full_name\ns1,Ada\n");
        assert!(entries.is_empty());
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("role"), "{errors:?}");
    }

    #[test]
    fn a_photo_url_must_be_http() {
        let (_, errors) = parse_roster("school_number,full_name,role,photo_url\ns1,Ada,student,file:///etc/passwd\n");
        assert!(errors[0].message.contains("photo_url"));
    }
}

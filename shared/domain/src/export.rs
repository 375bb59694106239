//! CSV exports for spreadsheets: a session's records, written in chunks so
//! a stream can send each as it fills, with every cell made safe to open.

use std::borrow::Cow;

use crate::{Record, RecordStatus, course::ReportRow, record::millis_to_time};

/// A chunk is sent once it holds about this many bytes.
pub const CHUNK_BYTES: usize = 64 * 1024;

pub const SESSION_RECORDS_HEADER: [&str; 8] = [
    "student_number",
    "student_full_name",
    "status",
    "check_in_time_utc",
    "fail_code",
    "fail_reason",
    "deleted_reason",
    "deleted_time_utc",
];

/// A cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, and a
/// leading tab or carriage return, which some strip before looking) gets a
/// leading `'`, so that it is shown as the text it is (OWASP's advice on
/// CSV injection). Anything else is left alone.
pub fn spreadsheet_safe(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

fn status_name(status: RecordStatus) -> &'static str {
    match status {
        RecordStatus::Attended => "ATTENDED",
        RecordStatus::Pending => "PENDING",
        RecordStatus::Failed => "FAILED",
        RecordStatus::Deleted => "DELETED",
    }
}

fn utc(ms: Option<i64>) -> String {
    ms.and_then(millis_to_time).map(|time| time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()).unwrap_or_default()
}

/// One record as a row under [`SESSION_RECORDS_HEADER`].
pub fn session_record_row(record: &Record) -> [String; 8] {
    [
        record.student_number.clone(),
        record.student_full_name.clone(),
        status_name(record.status()).to_owned(),
        utc(record.attendance_time_ms),
        record.fail_code.map(|code| code.as_str().to_owned()).unwrap_or_default(),
        record.fail_reason.clone().unwrap_or_default(),
        record.deletion_reason.clone().unwrap_or_default(),
        utc(record.deletion_time_ms),
    ]
}

pub const COURSE_REPORT_HEADER: [&str; 9] = [
    "student_number",
    "student_full_name",
    "attended",
    "excused",
    "failed",
    "absent",
    "total_sessions",
    "percent",
    "below_warning",
];

/// One report row under [`COURSE_REPORT_HEADER`].
pub fn course_report_row(row: &ReportRow) -> [String; 9] {
    [
        row.student_number.clone(),
        row.student_full_name.clone(),
        row.attended.to_string(),
        row.excused.to_string(),
        row.failed.to_string(),
        row.absent.to_string(),
        row.total_sessions.to_string(),
        row.percent.map(|percent| format!("{percent:.1}")).unwrap_or_default(),
        if row.below_warning { "yes" } else { "no" }.to_owned(),
    ]
}

/// Rows in, CSV chunks out: RFC 4180 quoting by the `csv` crate, every cell
/// through [`spreadsheet_safe`].
pub struct CsvChunks {
    writer: csv::Writer<Vec<u8>>,
}

impl CsvChunks {
    /// Starts with the header row.
    pub fn new(header: &[&str]) -> Self {
        let mut chunks = Self { writer: writer() };
        chunks.row(header);
        chunks
    }

    pub fn row<S: AsRef<str>>(&mut self, cells: &[S]) {
        // Writing to a Vec cannot fail, and every row has the header's width.
        self.writer
            .write_record(cells.iter().map(|cell| spreadsheet_safe(cell.as_ref()).into_owned()))
            .expect("a CSV row written to memory");
    }

    /// The bytes written so far, if there are at least [`CHUNK_BYTES`].
    pub fn full_chunk(&mut self) -> Option<Vec<u8>> {
        (self.writer.get_ref().len() >= CHUNK_BYTES).then(|| self.take())
    }

    /// Whatever is left (possibly empty).
    pub fn finish(mut self) -> Vec<u8> {
        self.take()
    }

    fn take(&mut self) -> Vec<u8> {
        std::mem::replace(&mut self.writer, writer()).into_inner().expect("a CSV flush to memory")
    }
}

/// A whole file, header then `rows`, as the chunks a stream sends (the
/// last may be short or empty).
pub fn csv_chunks<R: AsRef<[String]>>(header: &[&str], rows: impl IntoIterator<Item = R>) -> Vec<Vec<u8>> {
    let mut csv = CsvChunks::new(header);
    let mut chunks = Vec::new();
    for row in rows {
        csv.row(row.as_ref());
        chunks.extend(csv.full_chunk());
    }
    chunks.push(csv.finish());
    chunks
}

fn writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_a_spreadsheet_would_run_get_a_leading_quote() {
        for cell in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"] {
            assert_eq!(spreadsheet_safe(cell), format!("'{cell}"), "{cell:?}");
        }
        for cell in ["Ada Lovelace", "", "1-2", "a=b", "'quoted", "ünïcode"] {
            assert_eq!(spreadsheet_safe(cell), cell, "{cell:?}");
        }
    }

    #[test]
    fn a_record_becomes_a_row_under_the_header() {
        let mut record = Record::attended("s1", "Ada, \"the\" Countess", 1_764_000_000_123);
        assert_eq!(
            session_record_row(&record),
            ["s1", "Ada, \"the\" Countess", "ATTENDED", "2025-11-24T16:00:00.123Z", "", "", "", ""].map(String::from)
        );
        record = record.failed_by_teacher("=cmd|' /C calc'!A0");
        let row = session_record_row(&record);
        assert_eq!((row[2].as_str(), row[4].as_str()), ("FAILED", "TEACHER_DECISION"));
    }

    #[test]
    fn a_report_row_has_one_decimal_and_says_yes_or_no() {
        let row = crate::course::report_row("s1".into(), "-Ada".into(), 2, 0, 3, 70);
        assert_eq!(course_report_row(&row), ["s1", "-Ada", "2", "0", "0", "1", "3", "66.7", "yes"].map(String::from));
        let none = crate::course::report_row("s2".into(), "Bo".into(), 0, 0, 0, 70);
        assert_eq!(course_report_row(&none)[7..], ["".to_owned(), "no".to_owned()]);
    }

    #[test]
    fn chunks_join_into_one_quoted_and_neutralised_csv() {
        let mut record = Record::attended("s1", "Ada, \"the\" Countess", 0);
        record = record.failed_by_teacher("=1+1");
        let sent = csv_chunks(&SESSION_RECORDS_HEADER, (0..2_000).map(|_| session_record_row(&record)));
        assert!(sent.len() > 1, "2,000 rows fill more than one chunk");
        assert!(sent[..sent.len() - 1].iter().all(|chunk| chunk.len() >= CHUNK_BYTES));
        let csv = String::from_utf8(sent.concat()).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), SESSION_RECORDS_HEADER);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2_000);
        assert_eq!(&rows[1999][1], "Ada, \"the\" Countess");
        assert_eq!(&rows[1999][5], "'=1+1");
        assert!(csv.contains("\r\n"));
    }
}

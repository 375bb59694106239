//! CSV exports for spreadsheets: a session's records, written in chunks so
//! a stream can send each as it fills, with every cell made safe to open.

use std::borrow::Cow;

use crate::{Record, RecordStatus, course::ReportRow, record::millis_to_time, time_zone};

/// A chunk is sent once it holds about this many bytes.
pub const CHUNK_BYTES: usize = 64 * 1024;

pub const SESSION_RECORDS_HEADER: [&str; 10] = [
    "student_number",
    "student_full_name",
    "status",
    "check_in_time_utc",
    "check_in_time_local",
    "fail_code",
    "fail_reason",
    "excuse_reason",
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
        RecordStatus::Excused => "EXCUSED",
        RecordStatus::NotCheckedIn => "NOT_CHECKED_IN",
        RecordStatus::Absent => "ABSENT",
    }
}

fn utc(ms: Option<i64>) -> String {
    ms.and_then(millis_to_time).map(|time| time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()).unwrap_or_default()
}

/// The session a roster line belongs to, as its export needs it.
#[derive(Debug, Clone, Copy)]
pub struct ExportedSession<'a> {
    /// Ended (or archived): a missing check-in is an absence.
    pub ended: bool,
    /// Its IANA zone, for the local check-in time (`None`: UTC).
    pub time_zone: Option<&'a str>,
}

/// One roster line as a row under [`SESSION_RECORDS_HEADER`].
pub fn session_record_row(session: ExportedSession<'_>, record: &Record) -> [String; 10] {
    let local = record
        .attendance_time_ms
        .and_then(millis_to_time)
        .map(|time| time_zone::local_time(time, session.time_zone))
        .unwrap_or_default();
    [
        record.student_number.clone(),
        record.student_full_name.clone(),
        status_name(record.roster_status(session.ended)).to_owned(),
        utc(record.attendance_time_ms),
        local,
        record.fail_code.map(|code| code.as_str().to_owned()).unwrap_or_default(),
        record.fail_reason.clone().unwrap_or_default(),
        record.excuse_reason.clone().unwrap_or_default(),
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

pub const COURSE_REGISTER_HEADER: [&str; 10] = [
    "student_number",
    "student_full_name",
    "attendance_id",
    "lesson_name",
    "local_date",
    "time_zone",
    "status",
    "check_in_time_local",
    "fail_code",
    "excuse_reason",
];

/// One student in one counted session of a course, as the register lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterLine {
    pub student_number: String,
    pub student_full_name: String,
    pub attendance_id: String,
    pub lesson_name: String,
    pub start_time: chrono::DateTime<chrono::Utc>,
    /// The session's IANA zone (`None`: UTC).
    pub time_zone: Option<String>,
    /// The student's record there, if any.
    pub record: Option<RegisterRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterRecord {
    pub is_attended: bool,
    pub is_deleted: bool,
    pub excuse_reason: Option<String>,
    pub fail_code: Option<String>,
    pub attendance_time: Option<chrono::DateTime<chrono::Utc>>,
}

/// One register line under [`COURSE_REGISTER_HEADER`]: the session's date
/// and the check-in time in the session's own zone; the status as the
/// course report counts it.
pub fn register_row(line: &RegisterLine) -> [String; 10] {
    use crate::course::{CountedRecord, SessionOutcome, session_outcome};
    let zone = line.time_zone.as_deref();
    let record = line.record.as_ref();
    let outcome = session_outcome(record.map(|r| CountedRecord {
        is_attended: r.is_attended,
        is_deleted: r.is_deleted,
        is_excused: r.excuse_reason.is_some(),
    }));
    let status = match outcome {
        SessionOutcome::Attended => "ATTENDED",
        SessionOutcome::Excused => "EXCUSED",
        SessionOutcome::Failed => "FAILED",
        SessionOutcome::Absent => "ABSENT",
    };
    let live = record.filter(|_| outcome != SessionOutcome::Absent);
    [
        line.student_number.clone(),
        line.student_full_name.clone(),
        line.attendance_id.clone(),
        line.lesson_name.clone(),
        time_zone::local_date(line.start_time, zone),
        time_zone::name(zone).to_owned(),
        status.to_owned(),
        live.and_then(|r| r.attendance_time).map(|time| time_zone::local_time(time, zone)).unwrap_or_default(),
        live.filter(|_| outcome == SessionOutcome::Failed).and_then(|r| r.fail_code.clone()).unwrap_or_default(),
        live.and_then(|r| r.excuse_reason.clone()).unwrap_or_default(),
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

    const OPEN_IN_ISTANBUL: ExportedSession<'static> =
        ExportedSession { ended: false, time_zone: Some("Europe/Istanbul") };

    #[test]
    fn a_record_becomes_a_row_under_the_header() {
        let mut record = Record::attended("s1", "Ada, \"the\" Countess", 1_764_000_000_123);
        assert_eq!(
            session_record_row(OPEN_IN_ISTANBUL, &record),
            [
                "s1",
                "Ada, \"the\" Countess",
                "ATTENDED",
                "2025-11-24T16:00:00.123Z",
                "2025-11-24 19:00:00",
                "",
                "",
                "",
                "",
                ""
            ]
            .map(String::from)
        );
        record = record.failed_by_teacher("=cmd|' /C calc'!A0");
        let row = session_record_row(OPEN_IN_ISTANBUL, &record);
        assert_eq!((row[2].as_str(), row[5].as_str()), ("FAILED", "TEACHER_DECISION"));
    }

    #[test]
    fn an_enrolled_student_without_a_check_in_is_absent_once_the_session_ended() {
        let line = Record::not_checked_in("s2", "Bo");
        assert_eq!(session_record_row(OPEN_IN_ISTANBUL, &line)[2], "NOT_CHECKED_IN");
        let ended = ExportedSession { ended: true, time_zone: None };
        assert_eq!(session_record_row(ended, &line)[2], "ABSENT");
        let excused = session_record_row(ended, &line.excused("@field trip"));
        assert_eq!((excused[2].as_str(), excused[7].as_str()), ("EXCUSED", "@field trip"));
    }

    fn counts(attended: u32, total: u32) -> crate::course::SessionCounts {
        crate::course::SessionCounts { attended, total, ..Default::default() }
    }

    #[test]
    fn a_register_line_gives_the_local_date_and_the_status_the_report_counts() {
        use chrono::TimeZone;
        let start = chrono::Utc.with_ymd_and_hms(2026, 3, 3, 2, 30, 0).unwrap();
        let line = |record| RegisterLine {
            student_number: "s1".into(),
            student_full_name: "Ada".into(),
            attendance_id: "a1".into(),
            lesson_name: "=Week 1".into(),
            start_time: start,
            time_zone: Some("America/New_York".into()),
            record,
        };
        let absent = register_row(&line(None));
        assert_eq!(absent[4..7], ["2026-03-02", "America/New_York", "ABSENT"].map(String::from));
        let attended = register_row(&line(Some(RegisterRecord {
            is_attended: true,
            is_deleted: false,
            excuse_reason: None,
            fail_code: None,
            attendance_time: Some(start),
        })));
        assert_eq!((attended[6].as_str(), attended[7].as_str()), ("ATTENDED", "2026-03-02 21:30:00"));
        let failed = RegisterRecord {
            is_attended: false,
            is_deleted: false,
            excuse_reason: None,
            fail_code: Some("WIFI_FAILED".into()),
            attendance_time: None,
        };
        assert_eq!(register_row(&line(Some(failed.clone())))[6..9], ["FAILED", "", "WIFI_FAILED"].map(String::from));
        let excused = RegisterRecord { excuse_reason: Some("note".into()), fail_code: None, ..failed.clone() };
        assert_eq!(register_row(&line(Some(excused)))[6..10], ["EXCUSED", "", "", "note"].map(String::from));
        let deleted = RegisterRecord { is_deleted: true, ..failed };
        assert_eq!(register_row(&line(Some(deleted)))[6..9], ["ABSENT", "", ""].map(String::from));
    }

    #[test]
    fn a_report_row_has_one_decimal_and_says_yes_or_no() {
        let row = crate::course::report_row("s1".into(), "-Ada".into(), counts(2, 3), 70);
        assert_eq!(course_report_row(&row), ["s1", "-Ada", "2", "0", "0", "1", "3", "66.7", "yes"].map(String::from));
        let none = crate::course::report_row("s2".into(), "Bo".into(), counts(0, 0), 70);
        assert_eq!(course_report_row(&none)[7..], ["".to_owned(), "no".to_owned()]);
    }

    #[test]
    fn chunks_join_into_one_quoted_and_neutralised_csv() {
        let mut record = Record::attended("s1", "Ada, \"the\" Countess", 0);
        record = record.failed_by_teacher("=1+1");
        let sent =
            csv_chunks(&SESSION_RECORDS_HEADER, (0..2_000).map(|_| session_record_row(OPEN_IN_ISTANBUL, &record)));
        assert!(sent.len() > 1, "2,000 rows fill more than one chunk");
        assert!(sent[..sent.len() - 1].iter().all(|chunk| chunk.len() >= CHUNK_BYTES));
        let csv = String::from_utf8(sent.concat()).unwrap();
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), SESSION_RECORDS_HEADER);
        let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 2_000);
        assert_eq!(&rows[1999][1], "Ada, \"the\" Countess");
        assert_eq!(&rows[1999][6], "'=1+1");
        assert!(csv.contains("\r\n"));
    }
}

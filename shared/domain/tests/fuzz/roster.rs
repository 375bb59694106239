//! The roster CSV parser behind `attendance-service import-roster`: any
//! text, and files shaped like real exports (quotes, BOM, CRLF or CR line
//! ends, blank lines, huge fields, short rows, missing columns).

use std::collections::HashSet;

use attn_domain::{
    Role,
    roster::{RosterEntry, parse_roster},
    validate,
};
use proptest::prelude::*;

use crate::strategies::tricky_char;

const REQUIRED: [&str; 3] = ["school_number", "full_name", "role"];

/// The header: the required columns (now and then one is missing), some of
/// the optional and unknown ones, in any order.
fn columns() -> impl Strategy<Value = Vec<&'static str>> {
    (
        prop::sample::subsequence(vec!["photo_url", "password"], 0..=2),
        prop::sample::subsequence(vec!["email", "notes"], 0..=2),
        prop::option::weighted(0.1, 0..REQUIRED.len()),
    )
        .prop_flat_map(|(optional, unknown, dropped)| {
            let required = REQUIRED.iter().enumerate().filter(move |(i, _)| Some(*i) != dropped).map(|(_, c)| *c);
            Just(required.chain(optional).chain(unknown).collect::<Vec<_>>()).prop_shuffle()
        })
}

fn value(column: &str) -> BoxedStrategy<String> {
    match column {
        "school_number" => prop_oneof![
            4 => "[a-c][0-2]{0,2}",
            2 => "[A-Za-z0-9_.-]{1,12}",
            1 => prop::sample::select(vec!["s 1", "", "ö1", "  ", "s1\n"]).prop_map(str::to_owned),
            1 => Just("x".repeat(65)),
        ]
        .boxed(),
        "full_name" => prop_oneof![
            4 => "[A-Z][a-z]{1,8} [A-Z][a-z]{1,10}",
            2 => prop::sample::select(vec![
                "Hopper, Grace", "Grace \"Amazing\" Hopper", "  Ada  ", "A\nB", "A\r\nB", "", "\u{feff}Ada", "Ada\u{0}",
            ])
            .prop_map(str::to_owned),
            1 => (200..=201usize).prop_map(|n| "é".repeat(n)),
            1 => (5_000..20_000usize).prop_map(|n| "n".repeat(n)),
            1 => any::<String>(),
        ]
        .boxed(),
        "role" => {
            prop::sample::select(vec!["student", "teacher", "admin", " Student ", "ADMIN", "dean", "", "Teacher\t"])
                .prop_map(str::to_owned)
                .boxed()
        }
        "photo_url" => prop::sample::select(vec![
            "",
            "https://photos.example/a.jpg",
            "http://10.0.0.1/x",
            " https://x ",
            "file:///etc/passwd",
            "ftp://x",
            "https://a,b",
        ])
        .prop_map(str::to_owned)
        .boxed(),
        "password" => prop::sample::select(vec!["", "secret", "pa,ss", "p\"w", "  spaced  ", "line\nbreak"])
            .prop_map(str::to_owned)
            .boxed(),
        _ => any::<String>().boxed(),
    }
}

/// One data row: a value for each column, sometimes cut short, sometimes
/// with more fields than the header; and whether to quote every field.
fn row(columns: Vec<&'static str>) -> impl Strategy<Value = (Vec<String>, bool, usize)> {
    let values: Vec<_> = columns.iter().map(|column| value(column)).collect();
    let width = columns.len();
    (
        values,
        prop::option::weighted(0.15, 1..width),
        prop::collection::vec(any::<String>(), 0..=1),
        any::<bool>(),
        prop::option::weighted(0.15, 1..=2usize),
    )
        .prop_map(|(mut fields, cut, more, quote_all, blank_lines_before)| {
            if let Some(cut) = cut {
                fields.truncate(cut);
            } else {
                fields.extend(more);
            }
            (fields, quote_all, blank_lines_before.unwrap_or(0))
        })
}

/// A roster file as a spreadsheet might export it, with the rows it holds.
#[derive(Debug, Clone)]
struct File {
    columns: Vec<&'static str>,
    rows: Vec<Vec<String>>,
    /// The line each row starts on.
    lines: Vec<u64>,
    text: String,
}

fn file() -> impl Strategy<Value = File> {
    columns()
        .prop_flat_map(|columns| {
            (
                Just(columns.clone()),
                prop::collection::vec(row(columns), 0..10),
                prop::sample::select(vec!["\n", "\r\n", "\r"]),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            )
        })
        .prop_map(|(columns, rows, line_end, bom, padded_header, final_line_end)| {
            let mut text = if bom { "\u{feff}".to_owned() } else { String::new() };
            let header: Vec<String> =
                columns.iter().map(|c| if padded_header { format!(" {c} ") } else { (*c).to_owned() }).collect();
            text.push_str(&header.join(","));
            let mut line = 1;
            let mut lines = Vec::new();
            let mut fields_of_rows = Vec::new();
            for (fields, quote_all, blank_lines) in rows {
                for _ in 0..blank_lines {
                    text.push_str(line_end);
                    line += 1;
                }
                text.push_str(line_end);
                line += 1;
                lines.push(line);
                let written = fields
                    .iter()
                    .map(|field| {
                        // A lone empty field would be a blank line, which is no row.
                        let quote = quote_all || fields.len() == 1 || field.contains([',', '"', '\r', '\n']);
                        if quote { format!("\"{}\"", field.replace('"', "\"\"")) } else { field.clone() }
                    })
                    .collect::<Vec<_>>()
                    .join(",");
                line += line_breaks(&written);
                text.push_str(&written);
                fields_of_rows.push(fields);
            }
            if final_line_end {
                text.push_str(line_end);
            }
            File { columns, rows: fields_of_rows, lines, text }
        })
}

/// Line breaks as an editor counts them: `\r\n`, `\n`, or a lone `\r`.
fn line_breaks(text: &str) -> u64 {
    text.replace("\r\n", "\n").chars().filter(|&c| c == '\n' || c == '\r').count() as u64
}

/// What the importer should make of one row, by the documented rules:
/// `None` when the row must be reported.
fn expected_entry(columns: &[&str], fields: &[String], seen: &mut HashSet<String>) -> Option<RosterEntry> {
    // CSV trims ASCII spaces around every field; the validators trim the
    // rest. A row that ends early has empty cells for the rest.
    let field = |name: &str| {
        let index = columns.iter().position(|c| *c == name)?;
        Some(fields.get(index).map_or("", |f| f.trim_matches(|c: char| c.is_ascii_whitespace())).to_owned())
    };
    let school_number = validate::school_number("school_number", &field("school_number")?).ok()?;
    let full_name = validate::full_name("full_name", &field("full_name")?).ok()?;
    let role = Role::parse(&field("role")?)?;
    let photo_url = field("photo_url").filter(|url| !url.is_empty());
    if photo_url.as_ref().is_some_and(|url| !(url.starts_with("http://") || url.starts_with("https://"))) {
        return None;
    }
    let password = field("password").filter(|p| !p.is_empty());
    // The strategy never writes a `courses` column: courses stay as they are.
    seen.insert(school_number.clone()).then_some(RosterEntry {
        school_number,
        full_name,
        role,
        photo_url,
        password,
        courses: None,
    })
}

/// Any text: arbitrary, CSV-ish, or a real-looking file with a character
/// spliced in somewhere.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<u8>(), 0..300).prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
        "(school_number,full_name,role\n)?[a-c0-9_ ,\"\r\n\u{feff}.:/-]{0,300}",
        (file(), any::<prop::sample::Index>(), tricky_char()).prop_map(|(file, at, c)| {
            let mut chars: Vec<char> = file.text.chars().collect();
            chars.insert(at.index(chars.len() + 1), c);
            chars.into_iter().collect()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { max_shrink_iters: 2048, ..ProptestConfig::default() })]

    #[test]
    fn every_row_of_a_roster_is_imported_or_reported_on_the_line_it_starts(file in file()) {
        let (entries, errors) = parse_roster(&file.text);
        let mut seen = HashSet::new();
        let mut expected_entries = Vec::new();
        let mut expected_lines = Vec::new();
        for (fields, line) in file.rows.iter().zip(&file.lines) {
            match expected_entry(&file.columns, fields, &mut seen) {
                Some(entry) => expected_entries.push(entry),
                None => expected_lines.push(*line),
            }
        }
        prop_assert_eq!(entries.len() + errors.len(), file.rows.len(), "one outcome per row");
        prop_assert_eq!(entries, expected_entries);
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        prop_assert_eq!(lines, expected_lines, "{:?}", errors);
    }

    #[test]
    fn any_text_gives_valid_unique_entries_and_errors_on_lines_of_the_file(text in any_text()) {
        let (entries, errors) = parse_roster(&text);
        let mut seen = HashSet::new();
        for entry in &entries {
            let number = validate::school_number("school_number", &entry.school_number);
            prop_assert_eq!(number, Ok(entry.school_number.clone()));
            prop_assert_eq!(validate::full_name("full_name", &entry.full_name), Ok(entry.full_name.clone()));
            prop_assert!(seen.insert(&entry.school_number), "{} twice", entry.school_number);
            if let Some(url) = &entry.photo_url {
                prop_assert!(url.starts_with("http://") || url.starts_with("https://"), "{:?}", url);
            }
            prop_assert_ne!(entry.password.as_deref(), Some(""));
        }
        let last_line = line_breaks(&text) + 1;
        let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
        prop_assert!(lines.iter().all(|line| (1..=last_line).contains(line)), "{:?} in {} lines", lines, last_line);
        prop_assert!(lines.is_sorted(), "reported in file order: {:?}", lines);
        // One outcome per record after the header, as a plain CSV reader counts them.
        let records = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes()).records().count();
        prop_assert_eq!(entries.len() + errors.len(), records);
    }
}

//! `attendance-service import-roster FILE`: loads a roster CSV into the
//! user directory (see `attn_domain::roster` for the columns).
//!
//! Every row is checked first and every bad row reported with its line;
//! good rows are imported in batches, with progress, so a large roster
//! neither fails on one typo nor leaves the operator guessing.
//!
//! With a `courses` column, each batch's people then get exactly the
//! courses their cells list (courses are created as they are first named),
//! in one transaction per batch, and the summary counts what changed.

use std::{collections::BTreeMap, time::Instant};

use anyhow::Context as _;
use attn_domain::{Role, roster};
use attn_store::{
    Archive,
    archive::{CourseCounts, NewUser, PersonCourses},
};

use futures::StreamExt;

use crate::passwords::Passwords;

const BATCH: usize = 500;

#[derive(Debug, Default)]
pub struct ImportSummary {
    pub imported: u64,
    pub teachers: usize,
    pub students: usize,
    pub admins: usize,
    pub rejected: usize,
    /// The file has a `courses` column (so `courses` says what changed).
    pub with_courses: bool,
    pub courses: CourseCounts,
}

pub async fn import_roster(archive: &Archive, csv_text: &str, dry_run: bool) -> anyhow::Result<ImportSummary> {
    let started = Instant::now();
    let (entries, errors) = roster::parse_roster(csv_text);
    for error in &errors {
        eprintln!("line {}: {}", error.line, error.message);
    }
    let mut summary = ImportSummary {
        rejected: errors.len(),
        with_courses: entries.iter().any(|entry| entry.courses.is_some()),
        ..ImportSummary::default()
    };
    for entry in &entries {
        match entry.role {
            Role::Teacher => summary.teachers += 1,
            Role::Student => summary.students += 1,
            Role::Admin => summary.admins += 1,
        }
    }
    if dry_run {
        return Ok(summary);
    }
    let total = entries.len();
    // An import is a process of its own: every core hashes.
    let passwords = Passwords::start(std::thread::available_parallelism().map_or(1, usize::from), 0);
    for (index, batch) in entries.chunks(BATCH).enumerate() {
        // Hashing is the slow part: one per core at a time (each takes 19 MiB).
        let passwords = &passwords;
        let hashes: Vec<anyhow::Result<Option<String>>> = futures::stream::iter(batch)
            .map(|entry| async move {
                match entry.password.clone() {
                    Some(password) => passwords.hash(password).await.map(Some),
                    None => Ok(None),
                }
            })
            .buffered(passwords.threads())
            .collect()
            .await;
        let mut users = Vec::with_capacity(batch.len());
        for (entry, hash) in batch.iter().zip(hashes) {
            users.push(NewUser {
                school_number: entry.school_number.clone(),
                full_name: entry.full_name.clone(),
                role: entry.role,
                photo_url: entry.photo_url.clone(),
                password_hash: hash?,
            });
        }
        summary.imported += archive.upsert_users(&users).await.with_context(|| {
            format!(
                "writing rows {}..{} failed; earlier batches are saved",
                index * BATCH + 1,
                index * BATCH + batch.len()
            )
        })?;
        summary.courses += write_courses(archive, batch).await.with_context(|| {
            format!(
                "writing the courses of rows {}..{} failed; earlier batches are saved",
                index * BATCH + 1,
                index * BATCH + batch.len()
            )
        })?;
        let done = (index * BATCH + batch.len()).min(total);
        eprintln!("imported {done}/{total} users ({:.1}s)", started.elapsed().as_secs_f64());
    }
    Ok(summary)
}

/// Replaces the course lists of a batch's teachers and students whose rows
/// have a `courses` cell, creating the courses they name.
async fn write_courses(archive: &Archive, batch: &[roster::RosterEntry]) -> anyhow::Result<CourseCounts> {
    let mut names: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut people = Vec::new();
    for entry in batch {
        let Some(courses) = &entry.courses else {
            continue;
        };
        if entry.role == Role::Admin {
            continue;
        }
        for course in courses {
            let name = names.entry(course.code.clone()).or_default();
            if course.name.is_some() {
                // The last name given in the file wins.
                name.clone_from(&course.name);
            }
        }
        people.push(PersonCourses {
            school_number: entry.school_number.clone(),
            role: entry.role,
            courses: courses.iter().map(|course| course.code.clone()).collect(),
        });
    }
    if people.is_empty() {
        return Ok(CourseCounts::default());
    }
    Ok(archive.replace_courses(&names, &people).await?)
}

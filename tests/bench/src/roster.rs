//! The benchmark's own users, loaded the way an operator loads a real
//! roster: a CSV file through `attendance-service import-roster`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};
use futures::{StreamExt, TryStreamExt};
use tonic::transport::Channel;

use crate::clients::{Token, login};

pub const PASSWORD: &str = "bench-password-not-secret";

#[derive(Debug, Clone)]
pub struct Person {
    pub number: String,
    pub name: String,
}

/// Everyone on the benchmark's roster. Numbers carry the run id, so runs
/// against a shared (`--target`) stack never collide. They avoid the words
/// the stand-in gateway reacts to (`error`, `slow`, …): every face check
/// here is an ordinary match.
pub struct People {
    pub teacher: Person,
    pub admin: Person,
    pub students: Vec<Person>,
    /// How many of `students` (the first ones) have a password and sign in.
    pub with_password: usize,
    /// Student number → index in `students`.
    pub index: Arc<HashMap<String, usize>>,
}

impl People {
    pub fn new(run_id: &str, students: usize, with_password: usize) -> Self {
        let person = |number: String, name: String| Person { number, name };
        let students: Vec<Person> =
            (0..students).map(|i| person(format!("b{run_id}-s{i:05}"), format!("Bench Student {i}"))).collect();
        let index = students.iter().enumerate().map(|(i, s)| (s.number.clone(), i)).collect();
        Self {
            teacher: person(format!("b{run_id}-t1"), "Bench Teacher".into()),
            admin: person(format!("b{run_id}-a1"), "Bench Admin".into()),
            with_password: with_password.min(students.len()),
            students,
            index: Arc::new(index),
        }
    }

    /// The roster as CSV files for `import-roster`. Students past
    /// `with_password` get none: they appear on rosters (the archive scenario
    /// writes their records) but never sign in, which spares the import
    /// thousands of password hashes nobody uses.
    ///
    /// The students with passwords are split into files of
    /// [`PASSWORDS_PER_FILE`]: import-roster hashes a whole 500-row batch at
    /// once on the blocking pool (argon2, 19 MiB each, and glibc keeps the
    /// freed buffers in per-thread arenas), and on this machine one
    /// 10,002-row file with 2,000 passwords grew the importer to 24 GB and
    /// got it OOM-killed. Small files keep each run's peak to about a GiB.
    pub fn csv_files(&self, photo_base: Option<&str>) -> Vec<String> {
        const HEADER: &str = "school_number,full_name,role,photo_url,password\n";
        let photo = |number: &str| photo_base.map(|base| format!("{base}/photos/{number}.jpg")).unwrap_or_default();
        let row = |student: &Person, password: &str| {
            format!("{},{},student,{},{password}\n", student.number, student.name, photo(&student.number))
        };
        let mut first = String::from(HEADER);
        first.push_str(&format!("{},{},teacher,,{PASSWORD}\n", self.teacher.number, self.teacher.name));
        first.push_str(&format!("{},{},admin,,{PASSWORD}\n", self.admin.number, self.admin.name));
        for student in &self.students[self.with_password..] {
            first.push_str(&row(student, ""));
        }
        let mut files = vec![first];
        for chunk in self.students[..self.with_password].chunks(PASSWORDS_PER_FILE) {
            let mut file = String::from(HEADER);
            for student in chunk {
                file.push_str(&row(student, PASSWORD));
            }
            files.push(file);
        }
        files
    }
}

/// See [`People::csv_files`].
const PASSWORDS_PER_FILE: usize = 64;

/// Runs `attendance-service import-roster` on each file in turn; returns
/// the users imported and the time it took.
pub async fn import(binary: &Path, env: &[(String, String)], csv_paths: &[PathBuf]) -> anyhow::Result<(u64, Duration)> {
    let started = Instant::now();
    let mut imported = 0;
    for path in csv_paths {
        let summary = import_one(binary, env, path).await?;
        // "imported 1002 users (1 teachers, ...); 0 rows rejected"
        imported += summary.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
    }
    Ok((imported, started.elapsed()))
}

async fn import_one(binary: &Path, env: &[(String, String)], csv_path: &Path) -> anyhow::Result<String> {
    let mut command = tokio::process::Command::new(binary);
    command.arg("import-roster").arg(csv_path);
    for (key, _) in std::env::vars() {
        if key.starts_with("ATTN_") {
            command.env_remove(key);
        }
    }
    let output = command
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .await
        .with_context(|| format!("cannot run {} import-roster", binary.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "import-roster {} failed ({}):\n{stdout}\n{}",
            csv_path.display(),
            output.status,
            tail_lines(&String::from_utf8_lossy(&output.stderr), 20)
        );
    }
    Ok(stdout.trim().to_owned())
}

fn tail_lines(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Signs in every given person, `concurrency` at a time, in order.
pub async fn sign_in_all(
    channels: &[Channel],
    people: &[Person],
    concurrency: usize,
) -> anyhow::Result<(Vec<Token>, Duration)> {
    let started = Instant::now();
    let tokens = futures::stream::iter(people.iter().enumerate())
        .map(|(i, person)| {
            let channel = channels[i % channels.len()].clone();
            async move { login(&channel, &person.number, PASSWORD).await }
        })
        .buffered(concurrency.max(1))
        .try_collect()
        .await?;
    Ok((tokens, started.elapsed()))
}

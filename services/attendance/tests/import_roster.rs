//! `attendance-service import-roster`, run as an operator runs it: the real
//! binary against a real (scratch) PostgreSQL database.

use std::process::Command;

use sqlx::{Connection, PgConnection};

fn admin_url() -> String {
    std::env::var("ATTN_TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A pooler in transaction mode the services reach PostgreSQL through, if
/// the tests run behind one (`tests/pgbouncer/run.sh`).
fn pooler_url() -> Option<String> {
    std::env::var("ATTN_TEST_POOLER_URL").ok().filter(|url| !url.trim().is_empty())
}

struct ScratchDatabase {
    name: String,
    /// Straight to PostgreSQL, for the test's own checks.
    url: String,
    /// As the service reaches it: through the pooler, if any.
    service_url: String,
    /// ATTN_DATABASE_POOLER for the service.
    pooler: &'static str,
}

impl ScratchDatabase {
    async fn create() -> Self {
        let admin = admin_url();
        let name = format!("attn_import_{}", uuid::Uuid::new_v4().simple());
        let mut connection = PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|err| panic!("PostgreSQL is not reachable at {admin} ({err}); see the README"));
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\""))).execute(&mut connection).await.unwrap();
        let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
        let (service_url, pooler) = match pooler_url() {
            Some(pooler) => (format!("{}/{name}", pooler.rsplit_once('/').unwrap().0), "transaction"),
            None => (url.clone(), "none"),
        };
        Self { name, url, service_url, pooler }
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async move {
                let mut admin = PgConnection::connect(&admin_url()).await.unwrap();
                let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut admin).await.unwrap();
            })
        })
        .join()
        .unwrap();
    }
}

fn import(db: &ScratchDatabase, csv: &str, extra: &[&str]) -> std::process::Output {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), csv).unwrap();
    Command::new(env!("CARGO_BIN_EXE_attendance-service"))
        .arg("import-roster")
        .arg(file.path())
        .args(extra)
        .env("ATTN_DATABASE_URL", &db.service_url)
        .env("ATTN_DATABASE_POOLER", db.pooler)
        .env("ATTN_DATABASE_MIGRATION_URL", &db.url)
        .env("ATTN_LOG", "warn")
        .output()
        .expect("the binary runs")
}

#[tokio::test]
async fn good_rows_are_imported_and_every_bad_row_is_reported_with_its_line() {
    let db = ScratchDatabase::create().await;
    let csv = "school_number,full_name,role,photo_url,password\n\
               t1,Grace Hopper,teacher,,secret\n\
               s1,Ada Lovelace,student,https://photos.example/s1.jpg,pw\n\
               s 2,Bad Number,student,,\n\
               s3,Alan Turing,dean,,\n\
               s4,Katherine Johnson,student,,\n";
    let output = import(&db, csv, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "rejected rows make the exit code 2\n{stdout}\n{stderr}");
    assert!(stdout.contains("imported 3 users (1 teachers, 2 students, 0 admins); 2 rows rejected"), "{stdout}");
    assert!(stderr.contains("line 4: school_number"), "{stderr}");
    assert!(stderr.contains("line 5: role"), "{stderr}");

    let mut connection = PgConnection::connect(&db.url).await.unwrap();
    let users: Vec<(String, String, bool)> =
        sqlx::query_as("SELECT school_number, role, password_hash IS NOT NULL FROM users ORDER BY school_number")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    assert_eq!(
        users,
        vec![
            ("s1".into(), "student".into(), true),
            ("s4".into(), "student".into(), false),
            ("t1".into(), "teacher".into(), true),
        ]
    );
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE school_number = 't1'")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$") && !hash.contains("secret"), "passwords are stored hashed");
}

#[tokio::test]
async fn a_dry_run_checks_the_file_and_writes_nothing() {
    let db = ScratchDatabase::create().await;
    let output = import(&db, "school_number,full_name,role\ns1,Ada,student\n", &["--dry-run"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("checked 1 users"));
    let mut connection = PgConnection::connect(&db.url).await.unwrap();
    let schema: Option<String> =
        sqlx::query_scalar("SELECT to_regclass('users')::text").fetch_one(&mut connection).await.unwrap();
    assert_eq!(schema, None, "not even the schema is written");
}

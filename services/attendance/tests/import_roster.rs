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

#[tokio::test]
async fn courses_are_created_and_a_reimport_replaces_each_persons_list() {
    let db = ScratchDatabase::create().await;
    let first = "school_number,full_name,role,courses\n\
                 t1,Grace Hopper,teacher,cs101=Intro to Programming;math2\n\
                 s1,Ada Lovelace,student,CS101;MATH2\n\
                 s2,Alan Turing,student, cs101 \n\
                 s3,Katherine Johnson,student,cs 101\n";
    let output = import(&db, first, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stdout}\n{stderr}");
    assert!(stderr.contains("line 5: courses:"), "a bad code is reported on its line: {stderr}");
    assert!(
        stdout.contains("courses: 2 created; enrolments: 3 added, 0 dropped; teaching: 2 added, 0 dropped"),
        "{stdout}"
    );

    let mut connection = PgConnection::connect(&db.url).await.unwrap();
    let courses: Vec<(String, String)> =
        sqlx::query_as("SELECT course_code, display_name FROM courses ORDER BY course_code")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    assert_eq!(courses, vec![("CS101".into(), "Intro to Programming".into()), ("MATH2".into(), "MATH2".into())]);

    // s1 drops MATH2, s2 is not in the file (unchanged), s3 now enrols;
    // a file without the column would leave everyone alone.
    let second = "school_number,full_name,role,courses\n\
                  s1,Ada Lovelace,student,CS101\n\
                  s3,Katherine Johnson,student,MATH2=Calculus II\n";
    let output = import(&db, second, &[]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("courses: 0 created; enrolments: 1 added, 1 dropped"), "{stdout}");
    let output = import(&db, "school_number,full_name,role\ns1,Ada Lovelace,student\nt1,Grace Hopper,teacher\n", &[]);
    assert!(output.status.success());
    assert!(!String::from_utf8_lossy(&output.stdout).contains("courses:"), "no column, no course changes");

    let enrolments: Vec<(String, String)> =
        sqlx::query_as("SELECT student_number, course_code FROM enrolments ORDER BY student_number, course_code")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    assert_eq!(
        enrolments,
        vec![("s1".into(), "CS101".into()), ("s2".into(), "CS101".into()), ("s3".into(), "MATH2".into())]
    );
    let name: String = sqlx::query_scalar("SELECT display_name FROM courses WHERE course_code = 'MATH2'")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(name, "Calculus II", "a name given later renames the course");
    let taught: i64 = sqlx::query_scalar("SELECT count(*) FROM course_teachers WHERE teacher_school_number = 't1'")
        .fetch_one(&mut connection)
        .await
        .unwrap();
    assert_eq!(taught, 2);

    // An empty cell: no courses.
    let output = import(&db, "school_number,full_name,role,courses\ns1,Ada Lovelace,student,\n", &[]);
    assert!(String::from_utf8_lossy(&output.stdout).contains("enrolments: 0 added, 1 dropped"));
}

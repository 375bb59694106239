//! What every scenario works with: the stack, the roster, signed-in users
//! and the connections to attendance-service.

use std::{sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use attn_proto::v1::{
    Attendance, FinishAttendanceRequest, SecurityOption, StartAttendanceRequest, start_attendance_request::Ends,
    teacher_service_client::TeacherServiceClient,
};
use serde::Serialize;
use tonic::{Status, transport::Channel};

use crate::{
    cli::Settings,
    clients::{Token, authed, connect, connect_many, login},
    redis_probe::RedisProbe,
    roster::{self, PASSWORD, People},
    stack::{Stack, binary},
};

pub struct Bench<'a> {
    pub settings: Settings,
    /// This run's id: in user numbers, the database name and the key prefix.
    pub run_id: String,
    /// Where the services' logs and the roster files go.
    pub log_dir: std::path::PathBuf,
    pub stack: &'a Stack,
    pub people: People,
    /// The connections the load is spread over.
    pub channels: Arc<Vec<Channel>>,
    /// A connection of its own for the teacher's and admin's calls and streams.
    pub control: Channel,
    pub teacher: Token,
    pub admin: Token,
    /// Tokens of the first `people.with_password` students, in roster order.
    pub students: Arc<Vec<Token>>,
    pub redis: RedisProbe,
    pub setup: SetupFigures,
}

#[derive(Debug, Clone, Serialize)]
pub struct SetupFigures {
    pub roster_users: usize,
    pub users_imported: u64,
    pub import_files: usize,
    pub import_secs: f64,
    pub students_signed_in: usize,
    pub sign_in_secs: f64,
}

impl<'a> Bench<'a> {
    pub async fn prepare(
        settings: Settings,
        stack: &'a Stack,
        run_id: &str,
        log_dir: &std::path::Path,
    ) -> anyhow::Result<Self> {
        let people = People::new(run_id, settings.roster_students(), settings.signed_in_students());
        let photo_base = match &stack.face_proxy {
            Some(_) => stack.standin_url.clone(),
            None => None,
        };
        let mut csv_paths = Vec::new();
        for (i, csv) in people.csv_files(photo_base.as_deref()).into_iter().enumerate() {
            let path = log_dir.join(format!("roster-{i:03}.csv"));
            std::fs::write(&path, csv)?;
            csv_paths.push(path);
        }
        let attendance = binary(&stack.bin_dir, "attendance-service")?;
        println!("importing a roster of {} users ({} files) ...", people.students.len() + 2, csv_paths.len());
        let (imported, import_took) = roster::import(&attendance, &stack.import_env(), &csv_paths).await?;
        println!("  imported {imported} users in {:.1} s", import_took.as_secs_f64());

        let control = connect(&stack.attendance_url).await?;
        let teacher = login(&control, &people.teacher.number, PASSWORD).await?;
        let admin = login(&control, &people.admin.number, PASSWORD).await?;
        let channels = connect_many(&stack.attendance_url, settings.channels).await?;
        println!("signing in {} students ...", people.with_password);
        let (students, sign_in_took) =
            roster::sign_in_all(&channels, &people.students[..people.with_password], 16).await?;
        println!("  done in {:.1} s", sign_in_took.as_secs_f64());
        let redis = RedisProbe::connect(&stack.redis_settings()).await.context("Redis is not reachable")?;
        let setup = SetupFigures {
            roster_users: people.students.len() + 2,
            users_imported: imported,
            import_files: csv_paths.len(),
            import_secs: import_took.as_secs_f64(),
            students_signed_in: students.len(),
            sign_in_secs: sign_in_took.as_secs_f64(),
        };
        Ok(Self {
            settings,
            run_id: run_id.to_owned(),
            log_dir: log_dir.to_owned(),
            stack,
            people,
            channels: Arc::new(channels),
            control,
            teacher,
            admin,
            students: Arc::new(students),
            redis,
            setup,
        })
    }

    pub fn teacher_client(&self) -> TeacherServiceClient<Channel> {
        TeacherServiceClient::new(self.control.clone())
    }

    /// Opens a session for an hour; option 2 and 3 sessions accept loopback.
    pub async fn start_session(&self, lesson: &str, option: SecurityOption) -> Result<Attendance, Status> {
        let networks = if option == SecurityOption::Manual { Vec::new() } else { vec!["127.0.0.0/16".to_owned()] };
        let request = StartAttendanceRequest {
            lesson_name: lesson.to_owned(),
            ends: Some(Ends::Duration(prost_types::Duration { seconds: 3600, nanos: 0 })),
            security_option: option as i32,
            networks,
            ..Default::default()
        };
        let answer = self.teacher_client().start_attendance(authed(request, &self.teacher)).await?;
        answer.into_inner().attendance.ok_or_else(|| Status::internal("StartAttendance answered no attendance"))
    }

    pub async fn finish_session(&self, attendance_id: &str) -> anyhow::Result<()> {
        let request = FinishAttendanceRequest { attendance_id: attendance_id.to_owned() };
        self.teacher_client()
            .finish_attendance(authed(request, &self.teacher))
            .await
            .with_context(|| format!("FinishAttendance {attendance_id} failed"))?;
        Ok(())
    }
}

/// Runs `cargo build --release` for the service binaries.
pub fn build_release() -> anyhow::Result<()> {
    println!("cargo build --release (the four service binaries) ...");
    let status = std::process::Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--quiet"])
        .args(["-p", "attendance-service", "-p", "verification-service", "-p", "sweeper-service"])
        .args(["-p", "face-gateway-standin"])
        .status()
        .context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build --release failed ({status})");
    }
    Ok(())
}

/// A timeout for things that should take seconds; reaching it means the stack is stuck.
pub const STUCK: Duration = Duration::from_secs(60);

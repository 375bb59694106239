//! The services as real processes (their built binaries), for what only a
//! process of its own has: its global tracer provider and propagator, set
//! up from its environment as in production.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    sync::OnceLock,
    time::Duration,
};

use tokio::process::{Child, Command};
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};

/// How long a service may take to start serving.
const START_DEADLINE: Duration = Duration::from_secs(30);

/// The directory holding the service binaries, built (or found up to date)
/// once per test process by `cargo build --workspace --bins`, as
/// `tests/run.sh` builds them. `CARGO_BIN_EXE_*` names only a package's
/// own binaries.
pub fn service_binaries() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let test = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/e2e-<hash>
        let profile_dir = test.parent().and_then(Path::parent).expect("target/<profile>/deps").to_path_buf();
        let target_dir = profile_dir.parent().expect("target/").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = std::process::Command::new(&cargo);
        build.args(["build", "--quiet", "--workspace", "--bins", "--target-dir"]).arg(&target_dir);
        if profile_dir.file_name().is_some_and(|name| name == "release") {
            build.arg("--release");
        }
        // What cargo set for this test process (the package's name and
        // paths, the library path) would make this build differ from one in
        // a shell, and each would rebuild the binaries the other made.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if (key.starts_with("CARGO_") && key != "CARGO_HOME") || key == "LD_LIBRARY_PATH" || key == "OUT_DIR" {
                build.env_remove(key.as_ref());
            }
        }
        let status =
            build.status().unwrap_or_else(|err| panic!("cannot run {cargo} to build the service binaries: {err}"));
        assert!(status.success(), "`cargo build --workspace --bins` failed ({status})");
        profile_dir
    })
}

/// A free loopback port (free now; the service binds it a moment later).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|listener| listener.local_addr()).expect("a free port").port()
}

/// One running service process, killed when dropped; its output goes to a
/// log file whose end is shown if it fails to start.
pub struct ServiceProcess {
    pub name: &'static str,
    pub addr: SocketAddr,
    pub log: PathBuf,
    child: Child,
}

impl ServiceProcess {
    /// Starts the binary `name` listening on a free port given in
    /// `addr_setting` (e.g. `ATTN_ATTENDANCE_ADDR`), with only the `ATTN_*`
    /// and `OTEL_*` settings in `env` (inherited ones are removed), and waits
    /// until its health service says SERVING.
    pub async fn start(name: &'static str, addr_setting: &str, env: &[(&str, String)]) -> Self {
        let program = service_binaries().join(name);
        let log = std::env::temp_dir().join(format!("attn-e2e-{name}-{}.log", uuid::Uuid::new_v4().simple()));
        let file = std::fs::File::create(&log).unwrap_or_else(|err| panic!("cannot create {}: {err}", log.display()));
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("an address");
        let mut command = Command::new(&program);
        command.stdin(Stdio::null()).stdout(file.try_clone().expect("a log file")).stderr(file).kill_on_drop(true);
        for (key, _) in std::env::vars() {
            if key.starts_with("ATTN_") || key.starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().map(|(key, value)| (*key, value.as_str()))).env(addr_setting, addr.to_string());
        let mut child = command.spawn().unwrap_or_else(|err| panic!("cannot start {}: {err}", program.display()));
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited ({status}) at start-up; its log ends:\n{}", tail(&log));
            }
            if serving(addr).await {
                return Self { name, addr, log, child };
            }
            if started.elapsed() > START_DEADLINE {
                panic!("{name} did not serve on {addr} within {START_DEADLINE:?}; its log ends:\n{}", tail(&log));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Kills it outright (SIGKILL: no drain, no goodbye to its clients, its
    /// connections reset), as a crash or an OOM kill would, and reaps it.
    pub async fn kill(&mut self) {
        self.child.kill().await.unwrap_or_else(|err| panic!("cannot kill {}: {err}", self.name));
    }

    /// The end of its log, for failure messages.
    pub fn log_tail(&self) -> String {
        tail(&self.log)
    }
}

async fn serving(addr: SocketAddr) -> bool {
    let Ok(channel) = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .expect("a URL")
        .connect_timeout(Duration::from_secs(1))
        .connect()
        .await
    else {
        return false;
    };
    let answer = HealthClient::new(channel).check(HealthCheckRequest { service: String::new() }).await;
    answer.is_ok_and(|answer| answer.into_inner().status == ServingStatus::Serving as i32)
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

//! The service processes the benchmark starts, and what /proc says they cost.
//!
//! CPU time is `utime + stime` from `/proc/<pid>/stat` (in clock ticks);
//! peak memory is `VmHWM` from `/proc/<pid>/status`, the resident set's high
//! water mark. Each measured interval starts a new window by resetting it
//! (`5` into `/proc/<pid>/clear_refs`), so a scenario's peak is its own and
//! not, say, the sign-in's; the peak over the whole run is kept as well.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
};

use anyhow::{Context as _, bail};
use serde::Serialize;
use tokio::process::{Child, Command};

/// One running child process, its output going to a log file.
pub struct Proc {
    pub name: &'static str,
    pub pid: u32,
    child: Child,
    pub log: PathBuf,
    /// The highest VmHWM seen before any reset.
    run_peak_kib: AtomicU64,
}

impl Proc {
    /// Starts `program` with only the `ATTN_*` settings given (inherited
    /// `ATTN_*` and `OTEL_*` variables are removed, so the caller's shell
    /// cannot change what is measured).
    pub fn spawn(
        name: &'static str,
        program: &Path,
        args: &[&str],
        env: &[(String, String)],
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        let log = log_dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::null()).stdout(file.try_clone()?).stderr(file).kill_on_drop(true);
        for (key, _) in std::env::vars() {
            if key.starts_with("ATTN_") || key.starts_with("OTEL_") {
                command.env_remove(key);
            }
        }
        command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let child = command.spawn().with_context(|| format!("cannot start {}", program.display()))?;
        let pid = child.id().context("the child has no pid")?;
        Ok(Self { name, pid, child, log, run_peak_kib: AtomicU64::new(0) })
    }

    /// Wraps a child started elsewhere (the echo server, whose stdout is read).
    pub fn adopt(name: &'static str, child: Child, log: PathBuf) -> anyhow::Result<Self> {
        let pid = child.id().context("the child has no pid")?;
        Ok(Self { name, pid, child, log, run_peak_kib: AtomicU64::new(0) })
    }

    /// Fails, with the end of its log, if the process has exited.
    pub fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}) at start-up; its log ends:\n{}", self.name, tail(&self.log, 20));
        }
        Ok(())
    }

    pub fn sample(&self) -> anyhow::Result<ProcSample> {
        let sample = sample(self.pid)?;
        self.run_peak_kib.fetch_max(sample.peak_rss_kib, Ordering::Relaxed);
        Ok(sample)
    }

    /// Starts a new peak-RSS window (after noting the peak so far).
    pub fn reset_peak(&self) {
        let _ = self.sample();
        if let Err(err) = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5") {
            eprintln!("cannot reset the peak RSS of {} ({err}); its peaks are since it started", self.name);
        }
    }

    /// The peak RSS over the whole run, in MiB.
    pub fn run_peak_mib(&self) -> f64 {
        let _ = self.sample();
        self.run_peak_kib.load(Ordering::Relaxed) as f64 / 1024.0
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The last `lines` lines of a log file, for error messages.
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub cpu_secs: f64,
    pub rss_kib: u64,
    pub peak_rss_kib: u64,
}

/// What one process spent during one measured interval.
#[derive(Debug, Clone, Serialize)]
pub struct ProcFigures {
    pub cpu_secs: f64,
    /// Resident set when the interval started.
    pub rss_at_start_mib: f64,
    /// Resident set high-water mark during the interval.
    pub peak_rss_mib: f64,
}

/// CPU and memory of each named process between two samples.
pub fn figures(
    before: &BTreeMap<&'static str, ProcSample>,
    after: &BTreeMap<&'static str, ProcSample>,
) -> BTreeMap<String, ProcFigures> {
    after
        .iter()
        .map(|(name, end)| {
            let start = before.get(name).copied().unwrap_or_default();
            let figures = ProcFigures {
                cpu_secs: end.cpu_secs - start.cpu_secs,
                rss_at_start_mib: start.rss_kib as f64 / 1024.0,
                peak_rss_mib: end.peak_rss_kib as f64 / 1024.0,
            };
            ((*name).to_owned(), figures)
        })
        .collect()
}

pub fn sample(pid: u32) -> anyhow::Result<ProcSample> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid} is gone"))?;
    // The command name (field 2) may contain spaces: count from the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).context("unreadable /proc/<pid>/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime field 14, stime field 15.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).context("unreadable utime/stime");
    let cpu_ticks = ticks(11)? + ticks(12)?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(field))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    Ok(ProcSample {
        cpu_secs: cpu_ticks as f64 / clock_ticks_per_second(),
        rss_kib: kib("VmRSS:"),
        peak_rss_kib: kib("VmHWM:"),
    })
}

/// USER_HZ, as `getconf CLK_TCK` reports it (100 on every Linux we know of).
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .and_then(|text| text.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_cpu_time_and_a_peak_rss() {
        let mine = sample(std::process::id()).unwrap();
        assert!(mine.cpu_secs >= 0.0);
        assert!(mine.peak_rss_kib > 0);
    }
}

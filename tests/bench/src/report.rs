//! The results: printed as tables, written as JSON, and held against the
//! issue's targets (reported as met or missed, never asserted).

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    archive::ArchiveReport, bench::SetupFigures, campus::CampusReport, cli::Settings, face::FaceReport,
    metrics_cost::MetricsCostReport, semester::SemesterReport, storm::StormReport, targets::Target,
};

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub kernel: String,
    pub load_average_at_start: String,
}

impl Machine {
    pub fn describe() -> Self {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model: read("/proc/cpuinfo")
                .lines()
                .find_map(|line| line.strip_prefix("model name").and_then(|rest| rest.split_once(':')))
                .map(|(_, model)| model.trim().to_owned())
                .unwrap_or_default(),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_average_at_start: read("/proc/loadavg").split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    pub started_at_unix: u64,
    pub machine: Machine,
    pub settings: Settings,
    pub setup: Option<SetupFigures>,
    pub storm: Option<StormReport>,
    pub archive: Option<ArchiveReport>,
    pub face: Option<FaceReport>,
    pub campus: Option<CampusReport>,
    pub metrics: Option<MetricsCostReport>,
    pub semester: Option<SemesterReport>,
    /// Each started process's peak RSS over the whole run, sign-in included (MiB).
    pub run_peak_rss_mib: std::collections::BTreeMap<String, f64>,
    pub targets: Vec<Target>,
    /// What went wrong with the stack (errors, missed events): each makes the exit status non-zero.
    pub failures: Vec<String>,
}

impl Report {
    pub fn new(settings: Settings) -> Self {
        Self {
            tool: "attn-bench",
            version: env!("CARGO_PKG_VERSION"),
            started_at_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            machine: Machine::describe(),
            settings,
            setup: None,
            storm: None,
            archive: None,
            face: None,
            campus: None,
            metrics: None,
            semester: None,
            run_peak_rss_mib: Default::default(),
            targets: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Collects the stack failures the scenarios saw and works out the targets.
    pub fn conclude(&mut self) {
        if let Some(storm) = &self.storm {
            for run in &storm.attn {
                let which = format!("storm round {} option {}", run.round, run.security_option);
                for (kind, count) in &run.load.errors {
                    let example = run.load.error_examples.get(kind).map(String::as_str).unwrap_or_default();
                    self.failures.push(format!("{which}: {count} check-ins got {kind} ({example})"));
                }
                let roster = &run.live_roster;
                if roster.missed > 0 {
                    self.failures.push(format!(
                        "{which}: the teacher's roster missed {} of {} check-ins",
                        roster.missed, roster.expected
                    ));
                }
                if let Some(error) = &roster.stream_error {
                    self.failures.push(format!("{which}: WatchRecords ended early: {error}"));
                }
            }
            for run in &storm.echo {
                if run.load.ok != run.load.calls {
                    self.failures.push(format!("echo round {}: {:?}", run.round, run.load.errors));
                }
            }
        }
        if let Some(archive) = &self.archive {
            self.failures.extend(archive.failures.iter().map(|f| format!("archive: {f}")));
        }
        if let Some(face) = &self.face {
            self.failures.extend(face.failures());
        }
        if let Some(campus) = &self.campus {
            self.failures.extend(campus.failures.iter().map(|f| format!("campus: {f}")));
        }
        if let Some(metrics) = &self.metrics {
            for run in &metrics.runs {
                let side = if run.metrics_on { "on" } else { "off" };
                for (kind, count) in &run.load.errors {
                    let example = run.load.error_examples.get(kind).map(String::as_str).unwrap_or_default();
                    self.failures
                        .push(format!("metrics {side} round {}: {count} check-ins got {kind} ({example})", run.round));
                }
            }
        }
        if let Some(semester) = &self.semester {
            self.failures.extend(semester.failures.iter().map(|f| format!("semester: {f}")));
        }
        self.targets = crate::targets::evaluate(self);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let m = &self.machine;
        let s = &self.settings;
        let _ = writeln!(
            out,
            "\nattn-bench {} on {} CPUs ({}), Linux {}, load average at start {}",
            self.version, m.cpus, m.cpu_model, m.kernel, m.load_average_at_start
        );
        let _ = writeln!(
            out,
            "students {}, concurrency {}, {} HTTP/2 connections, {} round(s), archive {} records, face {} students \
             (gateway delay {} ms){}",
            s.students,
            s.concurrency,
            s.channels,
            s.rounds,
            s.archive_records,
            s.face_students,
            s.face_delay_ms,
            if s.quick { ", --quick" } else { "" }
        );
        if !s.service_env.is_empty() {
            let extra: Vec<String> = s.service_env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(out, "extra service settings: {}", extra.join(" "));
        }
        if let Some(setup) = &self.setup {
            let _ = writeln!(
                out,
                "setup: import-roster {} users from {} files ({:.1} s); {} students signed in ({:.1} s)",
                setup.users_imported,
                setup.import_files,
                setup.import_secs,
                setup.students_signed_in,
                setup.sign_in_secs
            );
        }
        if let Some(storm) = &self.storm {
            crate::tables::storm(&mut out, storm);
        }
        if let Some(archive) = &self.archive {
            crate::tables::archive(&mut out, archive);
        }
        if let Some(face) = &self.face {
            crate::tables::face(&mut out, face);
        }
        if let Some(campus) = &self.campus {
            crate::tables::campus(&mut out, campus);
        }
        if let Some(metrics) = &self.metrics {
            crate::tables::metrics(&mut out, metrics);
        }
        if let Some(semester) = &self.semester {
            crate::tables::semester(&mut out, semester);
        }
        if !self.run_peak_rss_mib.is_empty() {
            let peaks: Vec<String> =
                self.run_peak_rss_mib.iter().map(|(name, mib)| format!("{name} {mib:.1} MiB")).collect();
            let _ = writeln!(out, "\nPeak RSS over the whole run (sign-in included): {}", peaks.join(", "));
        }
        crate::tables::targets(&mut out, &self.targets);
        if self.failures.is_empty() {
            let _ = writeln!(out, "\nstack: no errors, no missed events");
        } else {
            let _ = writeln!(out, "\nSTACK FAILURES ({}):", self.failures.len());
            for failure in &self.failures {
                let _ = writeln!(out, "  - {failure}");
            }
        }
        out
    }
}

//! The issue's targets, each held against its measured figure. Reporting
//! only: a missed target never changes the exit status.

use serde::Serialize;

use crate::{
    campus::{ATTEND, CALLS, CampusReport},
    cli::Scenario,
    report::Report,
    semester::{REGISTER_ROWS_TARGET, REPORT_P99_TARGET_MS, SemesterReport},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Met,
    Missed,
    NotMeasured,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    pub goal: String,
    pub measured: String,
    pub verdict: Verdict,
    /// How far off a missed target is.
    pub gap: String,
}

#[derive(Clone, Copy)]
enum Goal {
    /// measured >= goal
    AtLeast,
    /// measured < goal
    Below,
    /// measured <= goal
    AtMost,
}

fn show(value: f64, unit: &str) -> String {
    if unit == "x" {
        format!("{value:.2}x")
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}{unit}")
    } else {
        format!("{value:.1}{unit}")
    }
}

fn target(name: &str, goal: f64, unit: &str, kind: Goal, measured: Option<f64>) -> Target {
    let (op, met) = match kind {
        Goal::AtLeast => (">=", measured.map(|m| m >= goal)),
        Goal::Below => ("<", measured.map(|m| m < goal)),
        Goal::AtMost => ("<=", measured.map(|m| m <= goal)),
    };
    let verdict = match met {
        Some(true) => Verdict::Met,
        Some(false) => Verdict::Missed,
        None => Verdict::NotMeasured,
    };
    let gap = match (verdict, measured) {
        (Verdict::Missed, Some(m)) if goal == 0.0 => format!("{} too many", show(m, unit)),
        (Verdict::Missed, Some(m)) => match kind {
            Goal::AtLeast => format!("{:.0}% short", (1.0 - m / goal) * 100.0),
            Goal::Below | Goal::AtMost => format!("{:.1}x the limit", m / goal),
        },
        _ => String::new(),
    };
    Target {
        name: name.to_owned(),
        goal: format!("{op} {}", show(goal, unit)),
        measured: measured.map_or_else(|| "-".to_owned(), |m| show(m, unit)),
        verdict,
        gap,
    }
}

/// A scenario that was skipped says so, rather than a bare "-".
fn skipped_if(skipped: bool, mut target: Target) -> Target {
    if skipped {
        target.measured = "skipped".into();
    }
    target
}

pub fn evaluate(report: &Report) -> Vec<Target> {
    let settings = &report.settings;
    let mut targets = Vec::new();
    if [Scenario::Storm, Scenario::Archive, Scenario::Face].iter().any(|&s| settings.runs(s)) {
        targets.extend(issue_6(report));
    }
    if settings.runs(Scenario::Campus) {
        targets.extend(campus(report.campus.as_ref(), &settings.campus));
    }
    if settings.runs(Scenario::Metrics) {
        targets.push(target(
            "metrics: check-ins/s with metrics on / off (median of rounds)",
            0.95,
            "x",
            Goal::AtLeast,
            report.metrics.as_ref().and_then(|m| m.median_on_over_off),
        ));
    }
    if settings.runs(Scenario::Semester) {
        targets.extend(semester(report.semester.as_ref(), &settings.semester));
    }
    targets
}

/// Issue 13: a semester's course report and register.
fn semester(semester: Option<&SemesterReport>, settings: &crate::cli::SemesterSettings) -> Vec<Target> {
    let shape = format!("{} sessions x {} students", settings.sessions_per_course(), settings.students_per_course);
    vec![
        target(
            &format!("semester: GetCourseReport p99 (one course, {shape})"),
            REPORT_P99_TARGET_MS,
            " ms",
            Goal::Below,
            semester.and_then(SemesterReport::report_p99_ms),
        ),
        target(
            &format!("semester: course register export (per_session), rows/s ({shape})"),
            REGISTER_ROWS_TARGET,
            " rows/s",
            Goal::AtLeast,
            semester.and_then(SemesterReport::register_rows_per_sec),
        ),
    ]
}

/// Issue 11: the campus morning.
fn campus(campus: Option<&CampusReport>, settings: &crate::cli::CampusSettings) -> Vec<Target> {
    let levels = campus.map(|c| c.levels.as_slice()).unwrap_or_default();
    let top_level = settings.levels.last().copied().unwrap_or(1);
    let base_level = settings.levels.first().copied().unwrap_or(1);
    let mut targets = Vec::new();
    if top_level > base_level {
        for call in CALLS {
            let ratio = campus.and_then(|c| c.throughput_ratio(call)).map(|(median, _)| median);
            targets.push(target(
                &format!(
                    "campus {call}: closed-loop calls/s at {top_level} / at {base_level} open sessions (median of rounds)"
                ),
                0.8,
                "x",
                Goal::AtLeast,
                ratio,
            ));
        }
    }
    let worst = |values: Vec<f64>| values.into_iter().reduce(f64::max);
    let attend =
        |calls: Vec<(&String, f64)>| worst(calls.into_iter().filter(|(c, _)| *c == ATTEND).map(|(_, v)| v).collect());
    targets.push(target(
        "campus Attend: closed-loop p99 (worst level)",
        20.0,
        " ms",
        Goal::Below,
        attend(levels.iter().flat_map(|l| l.closed.calls.iter().map(|c| (&c.call, c.load.p99_ms))).collect()),
    ));
    targets.push(target(
        &format!("campus Attend: open-loop p99 at {:.0} students/s (worst level)", settings.arrival_rate()),
        10.0,
        " ms",
        Goal::Below,
        attend(levels.iter().flat_map(|l| l.open.calls.iter().map(|c| (&c.call, c.load.p99_ms))).collect()),
    ));
    targets.push(target(
        "campus: errors (every call, both loops)",
        0.0,
        "",
        Goal::AtMost,
        campus.map(|c| c.errors() as f64),
    ));
    targets.push(target(
        &format!("campus: attendance-service peak RSS ({} students)", settings.students),
        64.0,
        " MiB",
        Goal::Below,
        campus.and_then(CampusReport::attendance_peak_rss_mib),
    ));
    targets
}

/// Issue 6: the check-in storm, the archive, face results.
fn issue_6(report: &Report) -> Vec<Target> {
    let storm = report.storm.as_ref();
    let all_runs = || storm.into_iter().flat_map(|s| s.attn.iter());
    let worst = |values: Vec<f64>| values.into_iter().reduce(f64::max);
    let face = report.face.as_ref().filter(|f| f.measured() && f.result_delay.count > 0);
    let face_skipped = report.face.as_ref().is_some_and(|f| !f.measured());
    let attendance_rss =
        worst(all_runs().filter_map(|run| run.processes.get("attendance-service").map(|p| p.peak_rss_mib)).collect());
    vec![
        target(
            "storm option 2: throughput / echo (median of pairs)",
            0.25,
            "x",
            Goal::AtLeast,
            storm.and_then(|s| s.median_option2_over_echo),
        ),
        target(
            "storm option 2: p99 latency (all rounds)",
            10.0,
            " ms",
            Goal::Below,
            storm.map(|s| s.option2_all_rounds.p99_ms),
        ),
        target("storm: errors (options 1 and 2)", 0.0, "", Goal::AtMost, storm.map(|s| s.errors as f64)),
        target(
            &format!(
                "archive {} records: sweep / COPY (median)",
                report.archive.as_ref().map_or(report.settings.archive_records, |a| a.records)
            ),
            3.0,
            "x",
            Goal::AtMost,
            report.archive.as_ref().and_then(|a| a.median_sweep_over_copy),
        ),
        target(
            "live roster: p99 delay (worst run)",
            50.0,
            " ms",
            Goal::Below,
            worst(all_runs().map(|r| r.live_roster.delay.p99_ms).collect()),
        ),
        target(
            "live roster: missed events",
            0.0,
            "",
            Goal::AtMost,
            storm.map(|s| s.attn.iter().map(|r| r.live_roster.missed as f64).sum()),
        ),
        skipped_if(
            face_skipped,
            target("face results: p50 delay", 300.0, " ms", Goal::Below, face.map(|f| f.result_delay.p50_ms)),
        ),
        skipped_if(
            face_skipped,
            target("face results: worst delay", 1000.0, " ms", Goal::Below, face.map(|f| f.result_delay.max_ms)),
        ),
        target(
            &format!("attendance-service peak RSS ({} students)", report.settings.students),
            100.0,
            " MiB",
            Goal::Below,
            attendance_rss,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ceiling_is_missed_by_a_factor_and_a_floor_by_a_share() {
        let slow = target("p99", 10.0, " ms", Goal::Below, Some(25.0));
        assert_eq!((slow.verdict, slow.gap.as_str()), (Verdict::Missed, "2.5x the limit"));
        let weak = target("ratio", 0.25, "x", Goal::AtLeast, Some(0.2));
        assert_eq!((weak.verdict, weak.gap.as_str()), (Verdict::Missed, "20% short"));
        let none = target("errors", 0.0, "", Goal::AtMost, Some(0.0));
        assert_eq!((none.verdict, none.goal.as_str()), (Verdict::Met, "<= 0"));
        assert_eq!(target("errors", 0.0, "", Goal::AtMost, Some(3.0)).gap, "3 too many");
        assert_eq!(target("face", 300.0, " ms", Goal::Below, None).verdict, Verdict::NotMeasured);
        assert_eq!(target("archive", 3.0, "x", Goal::AtMost, Some(3.0)).verdict, Verdict::Met);
    }
}

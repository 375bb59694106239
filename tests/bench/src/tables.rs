//! The printed tables. Every figure here is also in the JSON report.

use std::fmt::Write as _;

use crate::{
    archive::ArchiveReport,
    campus::CampusReport,
    face::FaceReport,
    metrics_cost::MetricsCostReport,
    semester::{REGISTER_ROWS_TARGET, REPORT_P99_TARGET_MS, SemesterReport, TIME_ZONE, Timed, met},
    stats::median,
    storm::{StormReport, is_attn},
    targets::{Target, Verdict},
};

/// Left-aligned first column, right-aligned figures.
fn table(out: &mut String, headers: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &[String]| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths[i].saturating_sub(cell.chars().count());
            if i == 0 {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            } else {
                text.push_str("  ");
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            }
        }
        let _ = writeln!(out, "{}", text.trim_end());
    };
    line(out, &headers.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>());
    line(out, &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>());
    for row in rows {
        line(out, row);
    }
}

fn ms(value: f64) -> String {
    format!("{value:.2}")
}

pub fn storm(out: &mut String, storm: &StormReport) {
    let _ = writeln!(
        out,
        "\n1/2/4. Check-in storm: {} students, concurrency {}, {} connections; echo = bare tonic service, same load",
        storm.students, storm.concurrency, storm.channels
    );
    let mut rows = Vec::new();
    for round in storm.pairs.iter().map(|p| p.round) {
        for run in storm.attn.iter().filter(|r| r.round == round) {
            let attendance = run.processes.get("attendance-service");
            let attn_cpu: f64 = run.processes.iter().filter(|(n, _)| is_attn(n)).map(|(_, p)| p.cpu_secs).sum();
            rows.push(vec![
                round.to_string(),
                format!("ATTN option {}", run.security_option),
                format!("{:.0}", run.load.throughput),
                ms(run.load.p50_ms),
                ms(run.load.p99_ms),
                ms(run.load.p999_ms),
                (run.load.calls - run.load.ok).to_string(),
                format!("{attn_cpu:.2}"),
                format!("{:.0}", run.server_cpu_us_per_check_in),
                attendance.map_or("-".into(), |p| format!("{:.1} ({:.1})", p.peak_rss_mib, p.rss_at_start_mib)),
                ms(run.live_roster.delay.p50_ms),
                ms(run.live_roster.delay.p99_ms),
                run.live_roster.missed.to_string(),
            ]);
        }
        for run in storm.echo.iter().filter(|r| r.round == round) {
            let echo = run.processes.values().next();
            rows.push(vec![
                round.to_string(),
                "echo".into(),
                format!("{:.0}", run.load.throughput),
                ms(run.load.p50_ms),
                ms(run.load.p99_ms),
                ms(run.load.p999_ms),
                (run.load.calls - run.load.ok).to_string(),
                echo.map_or("-".into(), |p| format!("{:.2}", p.cpu_secs)),
                format!("{:.0}", run.server_cpu_us_per_call),
                echo.map_or("-".into(), |p| format!("{:.1} ({:.1})", p.peak_rss_mib, p.rss_at_start_mib)),
                "".into(),
                "".into(),
                "".into(),
            ]);
        }
    }
    table(
        out,
        &[
            "round",
            "run",
            "calls/s",
            "p50 ms",
            "p99 ms",
            "p999 ms",
            "errors",
            "server CPU s",
            "CPU µs/call",
            "peak RSS MiB (at start)",
            "roster p50 ms",
            "roster p99 ms",
            "missed",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "(server CPU: attendance + verification + sweeper for ATTN, the echo process for echo; peak RSS: attendance-service / echo)"
    );

    let mut rows: Vec<Vec<String>> = storm
        .pairs
        .iter()
        .map(|p| {
            vec![p.round.to_string(), format!("{:.3}", p.option1_over_echo), format!("{:.3}", p.option2_over_echo)]
        })
        .collect();
    let show = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.3}"));
    rows.push(vec!["median".into(), show(storm.median_option1_over_echo), show(storm.median_option2_over_echo)]);
    let _ = writeln!(out, "\nThroughput ATTN / echo, pair by pair");
    table(out, &["round", "option 1 / echo", "option 2 / echo"], &rows);

    if let Some(last) = storm.attn.iter().rfind(|r| r.security_option == 2) {
        let mut processes: Vec<String> = last
            .processes
            .iter()
            .map(|(name, p)| {
                format!(
                    "{name} {:.2} s CPU, peak RSS {:.1} MiB (at start {:.1})",
                    p.cpu_secs, p.peak_rss_mib, p.rss_at_start_mib
                )
            })
            .collect();
        processes.push(format!("redis-server {:.2} s CPU", last.redis.cpu_secs));
        let _ = writeln!(out, "\nPer process, round {} option 2: {}", last.round, processes.join("; "));
        let mut commands: Vec<(&String, &f64)> = last.redis.commands_per_call.iter().collect();
        commands.sort_by(|a, b| b.1.total_cmp(a.1));
        let commands: Vec<String> = commands
            .iter()
            .map(|(name, per)| {
                let usec = last.redis.usec_per_call.get(*name).copied().unwrap_or(0.0);
                format!("{name} {per:.2} ({usec:.1} µs)")
            })
            .collect();
        let _ = writeln!(out, "Redis commands per check-in (Redis time): {}", commands.join(", "));
    }
}

pub fn archive(out: &mut String, archive: &ArchiveReport) {
    let _ = writeln!(
        out,
        "\n3. Archive: one finished session of {} records by sweep_attendances (RunJob) vs a bare COPY of the same rows",
        archive.records
    );
    let pre = &archive.storm_sessions_sweep;
    let _ = writeln!(
        out,
        "(first, the storm's sessions: {} sessions, {} records archived in {:.3} s)",
        pre.counts.get("sessions_archived").copied().unwrap_or(0),
        pre.counts.get("records_written").copied().unwrap_or(0),
        pre.secs
    );
    let mut rows: Vec<Vec<String>> = archive
        .runs
        .iter()
        .map(|run| {
            vec![
                run.round.to_string(),
                run.records.to_string(),
                format!("{:.3}", run.sweep.secs),
                format!("{:.3}", run.sweep.server_secs),
                format!("{:.3}", run.copy_secs),
                format!("{:.2}", run.sweep_over_copy),
                run.processes.get("sweeper-service").map_or("-".into(), |p| format!("{:.2}", p.cpu_secs)),
                format!("{:.2}", run.redis_cpu_secs),
            ]
        })
        .collect();
    rows.push(vec![
        "median".into(),
        "".into(),
        "".into(),
        "".into(),
        "".into(),
        archive.median_sweep_over_copy.map_or("-".into(), |v| format!("{v:.2}")),
        "".into(),
        "".into(),
    ]);
    table(
        out,
        &["round", "records", "sweep s", "sweep (server) s", "COPY s", "sweep / COPY", "sweeper CPU s", "Redis CPU s"],
        &rows,
    );
}

pub fn face(out: &mut String, face: &FaceReport) {
    let _ = writeln!(out, "\n5. Face results: gateway finished -> the student sees the final record");
    if !face.measured() {
        let _ = writeln!(out, "{}", face.status);
        return;
    }
    let d = &face.result_delay;
    table(
        out,
        &["students", "gateway delay ms", "attended", "errors", "p50 ms", "p99 ms", "worst ms", "best ms"],
        &[vec![
            face.students.to_string(),
            face.gateway_delay_ms.to_string(),
            face.attended.to_string(),
            face.errors.values().sum::<u64>().to_string(),
            format!("{:.1}", d.p50_ms),
            format!("{:.1}", d.p99_ms),
            format!("{:.1}", d.max_ms),
            format!("{:.1}", d.min_ms),
        ]],
    );
}

pub fn targets(out: &mut String, targets: &[Target]) {
    let _ = writeln!(out, "\nTargets (issues 6, 11 and 13; reported, not asserted)");
    let rows: Vec<Vec<String>> = targets
        .iter()
        .map(|t| {
            let verdict = match t.verdict {
                Verdict::Met => "met".to_owned(),
                Verdict::Missed => format!("MISSED ({})", t.gap),
                Verdict::NotMeasured => "not measured".to_owned(),
            };
            vec![t.name.clone(), t.measured.clone(), t.goal.clone(), verdict]
        })
        .collect();
    table(out, &["target", "measured", "goal", "verdict"], &rows);
}

pub fn campus(out: &mut String, campus: &CampusReport) {
    let s = &campus.settings;
    let _ = writeln!(
        out,
        "\n6. Campus: {} teachers each open a session, {} students (each on one session's roster), {} connections, \
         option {}",
        s.teachers, s.students, s.connections, s.security_option
    );
    let setup = &campus.setup;
    let _ = writeln!(
        out,
        "setup: {} users imported in {:.1} s (one file, no passwords), one argon2id hash set for all in {:.1} s; \
         {} students signed in through Login in {:.1} s ({:.0}/s: argon2id on ATTN_PASSWORD_THREADS threads); {} tokens written \
         to Redis as Login writes them in {:.1} s",
        setup.users_imported,
        setup.import_secs,
        setup.password_secs,
        setup.signed_in,
        setup.sign_in_secs,
        setup.signed_in as f64 / setup.sign_in_secs.max(1e-9),
        setup.tokens_issued,
        setup.issue_secs
    );
    let attn_cpu = |cpu: &std::collections::BTreeMap<String, f64>| -> f64 {
        cpu.iter().filter(|(n, _)| is_attn(n)).map(|(_, v)| v).sum()
    };
    let get = |cpu: &std::collections::BTreeMap<String, f64>, name: &str| cpu.get(name).copied().unwrap_or(0.0);

    let closed_students = campus.levels.first().map_or(0, |l| l.closed.students);
    let rounds = campus.levels.first().map_or(0, |l| l.closed.rounds);
    let _ = writeln!(
        out,
        "\nClosed loop: {closed_students} students make each call in turn, {} in flight over {} connections, in \
         {rounds} rounds over the levels (figures pool every round); echo = bare tonic service, same load",
        campus.concurrency, s.connections
    );
    let mut rows = Vec::new();
    for level in &campus.levels {
        for (n, run) in level.closed.calls.iter().chain([&level.echo_closed]).enumerate() {
            let is_echo = run.call == crate::campus::ECHO;
            let server = if is_echo { run.cpu_us_per_call.values().sum() } else { attn_cpu(&run.cpu_us_per_call) };
            let peak = if n == 0 {
                level.closed.peak_rss_mib.get("attendance-service").map_or("-".into(), |p| format!("{p:.1}"))
            } else {
                String::new()
            };
            rows.push(vec![
                if n == 0 { level.open_sessions.to_string() } else { String::new() },
                run.call.clone(),
                format!("{:.0}", run.load.throughput),
                ms(run.load.p50_ms),
                ms(run.load.p99_ms),
                ms(run.load.p999_ms),
                (run.load.calls - run.load.ok).to_string(),
                format!("{server:.0}"),
                if is_echo { "".into() } else { format!("{:.0}", get(&run.cpu_us_per_call, "attendance-service")) },
                if is_echo { "".into() } else { format!("{:.0}", get(&run.cpu_us_per_call, "redis-server")) },
                if is_echo { "".into() } else { format!("{:.1}", run.redis_commands_per_call.values().sum::<f64>()) },
                peak,
            ]);
        }
    }
    table(
        out,
        &[
            "sessions",
            "call",
            "calls/s",
            "p50 ms",
            "p99 ms",
            "p999 ms",
            "errors",
            "server CPU µs/call",
            "attendance µs/call",
            "Redis µs/call",
            "Redis cmds/call",
            "attendance peak RSS MiB",
        ],
        &rows,
    );
    let _ = writeln!(
        out,
        "(server CPU: attendance + verification + sweeper, or the echo process; Redis: its own CPU; peak RSS over the \
         four calls' runs, highest round)"
    );
    if let Some(top) = campus.levels.last() {
        let _ = writeln!(out, "Redis commands per call at {} open sessions:", top.open_sessions);
        for run in &top.closed.calls {
            let mut commands: Vec<(&String, &f64)> = run.redis_commands_per_call.iter().collect();
            commands.sort_by(|a, b| b.1.total_cmp(a.1));
            let commands: Vec<String> = commands.iter().map(|(name, per)| format!("{name} {per:.2}")).collect();
            let _ = writeln!(out, "  {}: {}", run.call, commands.join(", "));
        }
    }
    if let (Some(first), Some(top)) = (campus.levels.first(), campus.levels.last())
        && top.open_sessions > first.open_sessions
    {
        let _ = writeln!(
            out,
            "Throughput at {} open sessions / at {}, within each round (median first):",
            top.open_sessions, first.open_sessions
        );
        for call in crate::campus::CALLS {
            if let Some((median, rounds)) = campus.throughput_ratio(call) {
                let rounds: Vec<String> = rounds.iter().map(|r| format!("{r:.2}x")).collect();
                let _ = writeln!(out, "  {call:<21} {median:.2}x  (rounds: {})", rounds.join(", "));
            }
        }
    }

    let _ = writeln!(
        out,
        "\nOpen loop: {} students arrive evenly over {:.0} s ({:.0}/s), each finds, attends, reads its record and \
         its history; latency from when it was due (at most {} students in flight)",
        s.students,
        s.open_secs,
        s.arrival_rate(),
        s.in_flight
    );
    let mut rows = Vec::new();
    let runs = campus
        .levels
        .iter()
        .map(|l| (l.open_sessions.to_string(), &l.open))
        .chain(campus.echo_open.iter().map(|run| ("echo".to_owned(), run)));
    for (label, run) in runs.clone() {
        for (n, call) in run.calls.iter().enumerate() {
            rows.push(vec![
                if n == 0 { label.clone() } else { String::new() },
                call.call.clone(),
                call.load.calls.to_string(),
                ms(call.load.p50_ms),
                ms(call.load.p99_ms),
                ms(call.load.p999_ms),
                ms(call.load.max_ms),
                (call.load.calls - call.load.ok).to_string(),
            ]);
        }
    }
    table(out, &["sessions", "call", "calls", "p50 ms", "p99 ms", "p999 ms", "max ms", "errors"], &rows);
    let mut rows = Vec::new();
    for (label, run) in runs {
        let is_echo = label == "echo";
        let cpu = &run.cpu_us_per_student;
        let server = if is_echo { cpu.values().sum() } else { attn_cpu(cpu) };
        let peak = |name: &str| run.peak_rss_mib.get(name).map_or("-".into(), |p| format!("{p:.1}"));
        rows.push(vec![
            label,
            format!("{:.1}", run.elapsed_secs),
            run.students_completed.to_string(),
            ms(run.start_lag.p99_ms),
            run.waited_for_a_slot.to_string(),
            format!("{server:.0}"),
            if is_echo { "".into() } else { format!("{:.0}", get(cpu, "attendance-service")) },
            if is_echo { "".into() } else { format!("{:.0}", get(cpu, "redis-server")) },
            if is_echo { "".into() } else { format!("{:.1}", run.redis_commands_per_student.values().sum::<f64>()) },
            if is_echo { peak("echo-server") } else { peak("attendance-service") },
            if is_echo { "".into() } else { peak("verification-service") },
        ]);
    }
    table(
        out,
        &[
            "sessions",
            "done in s",
            "students done",
            "late start p99 ms",
            "waited for a slot",
            "server CPU µs/student",
            "attendance µs/student",
            "Redis µs/student",
            "Redis cmds/student",
            "peak RSS MiB (attendance / echo)",
            "verification MiB",
        ],
        &rows,
    );
}

pub fn metrics(out: &mut String, metrics: &MetricsCostReport) {
    let _ = writeln!(
        out,
        "\nMetrics on and off: option-2 check-in storm, {} students, concurrency {}; two attendance- and \
         verification-service pairs started alike for it, off = ATTN_*_METRICS_ADDR=off",
        metrics.students, metrics.concurrency,
    );
    let rows: Vec<Vec<String>> = metrics
        .runs
        .iter()
        .map(|run| {
            vec![
                run.round.to_string(),
                (if run.metrics_on { "on" } else { "off" }).to_owned(),
                format!("{:.0}", run.load.throughput),
                ms(run.load.p50_ms),
                ms(run.load.p99_ms),
                format!("{:.0}", run.server_cpu_us_per_check_in),
                (run.load.calls - run.load.ok).to_string(),
            ]
        })
        .collect();
    table(out, &["round", "metrics", "check-ins/s", "p50 ms", "p99 ms", "server CPU µs/check-in", "errors"], &rows);
    let ratios: Vec<String> =
        metrics.pairs.iter().map(|p| format!("round {} {:.3}x", p.round, p.on_over_off)).collect();
    let _ = writeln!(
        out,
        "on / off: {}; median {}",
        ratios.join(", "),
        metrics.median_on_over_off.map_or_else(|| "-".to_owned(), |r| format!("{r:.3}x"))
    );
    let cpu = |on: bool| {
        let per_run: Vec<f64> =
            metrics.runs.iter().filter(|run| run.metrics_on == on).map(|run| run.server_cpu_us_per_check_in).collect();
        median(&per_run).map_or_else(|| "-".to_owned(), |us| format!("{us:.0} µs"))
    };
    let _ = writeln!(out, "server CPU per check-in (median of the runs): on {}, off {}", cpu(true), cpu(false));
}

pub fn semester(out: &mut String, semester: &SemesterReport) {
    let s = &semester.settings;
    let _ = writeln!(
        out,
        "\n8. Semester: {} weeks x {} sessions a week x {} courses x {} students ({} students in all, each in about \
         {} courses), archived sessions in {TIME_ZONE}",
        s.weeks,
        s.sessions_per_week,
        s.courses,
        s.students_per_course,
        s.students,
        (s.courses * s.students_per_course).div_ceil(s.students)
    );
    let seed = &semester.seed;
    let _ = writeln!(
        out,
        "seeded in PostgreSQL (set-based SQL, one transaction) in {:.1} s, then VACUUM ANALYZE {:.1} s: {}",
        seed.secs,
        seed.analyze_secs,
        seed.counts()
    );
    let _ = writeln!(
        out,
        "measured: course {} ({} sessions x {} students = {} roster places), as its teacher over gRPC; baselines: a \
         bare COPY ... TO STDOUT of the same rows on one PostgreSQL connection",
        semester.course,
        semester.course_sessions,
        semester.course_students,
        semester.course_sessions * semester.course_students
    );
    let row = |label: &str, timed: Option<&Timed>, ratio: String| -> Vec<String> {
        match timed {
            Some(t) => vec![
                label.to_owned(),
                t.runs.to_string(),
                t.rows.to_string(),
                if t.bytes > 0 { format!("{:.0}", t.bytes as f64 / 1024.0) } else { String::new() },
                ms(t.latency.p50_ms),
                ms(t.latency.p99_ms),
                ms(t.latency.max_ms),
                format!("{:.0}", t.median_rows_per_sec),
                ratio,
            ],
            None => vec![label.to_owned(), "failed".into()],
        }
    };
    let ratio = |attn: Option<&Timed>, base: Option<&Timed>, f: fn(&Timed) -> f64| match (attn, base) {
        (Some(a), Some(b)) if f(b) > 0.0 => format!("{:.2}x", f(a) / f(b)),
        _ => String::new(),
    };
    let p50 = |t: &Timed| t.latency.p50_ms;
    let rate = |t: &Timed| t.median_rows_per_sec;
    let rows = vec![
        row(
            "GetCourseReport (rows: places it counts)",
            semester.report.as_ref(),
            ratio(semester.report.as_ref(), semester.report_copy.as_ref(), p50),
        ),
        row("  baseline: COPY of the rows it counts", semester.report_copy.as_ref(), String::new()),
        row(
            "ExportCourseReport per_session (register)",
            semester.register.as_ref(),
            ratio(semester.register.as_ref(), semester.register_copy.as_ref(), rate),
        ),
        row("  baseline: COPY of the register's rows", semester.register_copy.as_ref(), String::new()),
        row("ExportCourseReport (per student; information)", semester.report_export.as_ref(), String::new()),
    ];
    table(out, &["run", "runs", "rows", "KiB", "p50 ms", "p99 ms", "max ms", "rows/s", "vs baseline"], &rows);
    let _ = writeln!(
        out,
        "(each ATTN run and its baseline's alternate, one after the other; rows/s: rows over each run's time, median \
         of runs; vs baseline: p50 time for the report, rows/s for the register)"
    );
    if let Some(r) = &semester.report {
        let _ = writeln!(
            out,
            "GetCourseReport p99 {:.2} ms: target {} (< {REPORT_P99_TARGET_MS:.0} ms)",
            r.latency.p99_ms,
            met(r.latency.p99_ms < REPORT_P99_TARGET_MS)
        );
    }
    if let Some(r) = &semester.register {
        let _ = writeln!(
            out,
            "course register {:.0} rows/s: target {} (>= {REGISTER_ROWS_TARGET:.0} rows/s)",
            r.median_rows_per_sec,
            met(r.median_rows_per_sec >= REGISTER_ROWS_TARGET)
        );
    }
    if let Some(peak) = semester.attendance_peak_rss_mib {
        let _ = writeln!(out, "attendance-service peak RSS while exporting: {peak:.1} MiB");
    }
    for check in &semester.checks {
        let _ = writeln!(out, "checked: {check}");
    }
}

//! Failover under load: a check-in storm through both attendance-service
//! replicas while a Redis master dies (its replica takes over), and while
//! one attendance-service replica stops (told to, or killed outright). Check-ins are refused with
//! UNAVAILABLE for a while and never answered wrongly; every check-in
//! answered OK ends up in PostgreSQL; roster streams carry on.

use std::{collections::HashSet, time::Instant};

use attn_e2e::{ClusterAccess, ClusterEnv, bearer};
use uuid::Uuid;

use crate::support::{
    RosterWatch, Storm, StormReport, archived_check_ins, finish_and_wait_archived, sign_in_all, start,
};

/// Sessions in the storm (one per demo teacher) and students checking in
/// to every one of them.
const SESSIONS: usize = 10;
const STUDENTS: usize = 120;
/// Concurrent clients, and each one's pause between check-ins: about 100
/// check-ins a second, so the storm outlasts a failover.
const WORKERS: usize = 20;
const PACE: std::time::Duration = std::time::Duration::from_millis(180);
/// A failover may refuse check-ins for at most this long.
const MAX_REFUSED_MS: u128 = 15_000;

struct Stack {
    cluster: ClusterEnv,
    a: attn_e2e::Clients,
    b: attn_e2e::Clients,
    teacher_tokens: Vec<String>,
    sessions: Vec<String>,
    students: Vec<(String, String)>,
}

impl Stack {
    async fn start(access: ClusterAccess) -> Self {
        let cluster = ClusterEnv::start(access).await;
        let (a, b) = (cluster.clients_a().await, cluster.clients_b().await);
        let teacher_names: Vec<String> = (1..=SESSIONS).map(|n| format!("demo_teacher_{n}")).collect();
        let teacher_tokens = sign_in_all(&[a.clone(), b.clone()], &teacher_names).await;
        let mut sessions = Vec::new();
        for (n, token) in teacher_tokens.iter().enumerate() {
            let replica = if n % 2 == 0 { &a } else { &b };
            sessions
                .push(start(&mut replica.teacher(bearer(token)), &format!("Storm {n}"), 1, &[]).await.attendance_id);
        }
        let student_names: Vec<String> = (1..=STUDENTS).map(|n| format!("demo_student_{n}")).collect();
        let started = Instant::now();
        let tokens = sign_in_all(&[a.clone(), b.clone()], &student_names).await;
        println!("{STUDENTS} students signed in in {:?}", started.elapsed());
        let students = student_names.into_iter().zip(tokens).collect();
        Self { cluster, a, b, teacher_tokens, sessions, students }
    }

    fn replicas(&self) -> [(std::net::SocketAddr, attn_e2e::Clients); 2] {
        [(self.cluster.env.attendance_addr, self.a.clone()), (self.cluster.replica_b.addr, self.b.clone())]
    }

    fn storm(&self) -> Storm {
        self.storm_over(self.replicas())
    }

    fn storm_over(&self, replicas: [(std::net::SocketAddr, attn_e2e::Clients); 2]) -> Storm {
        Storm::start(replicas, self.students.clone(), self.sessions.clone(), WORKERS, PACE)
    }

    /// Finishes every session (through replica A, which never stops),
    /// waits for the sweepers to archive them, and returns how many of the
    /// check-ins answered OK are in PostgreSQL.
    async fn archive_and_count(&self, report: &StormReport) -> usize {
        for (token, id) in self.teacher_tokens.iter().zip(&self.sessions) {
            finish_and_wait_archived(&self.a.teacher(bearer(token)), std::slice::from_ref(id)).await;
        }
        let archived = archived_check_ins(&self.cluster.env).await;
        report.ok.intersection(&archived).count()
    }

    fn students_of(&self, report: &StormReport, id: &str) -> HashSet<String> {
        report.ok.iter().filter(|(session, _)| session == id).map(|(_, student)| student.clone()).collect()
    }
}

fn print_figures(what: &str, report: &StormReport, found: usize, total: usize) {
    println!("== {what}");
    println!("check-ins refused (first to last UNAVAILABLE): {} ms", report.refused_ms());
    println!("check-ins answered OK: {} of {total}", report.ok.len());
    println!("UNAVAILABLE answers (each retried on the other replica): {}", report.unavailable);
    println!("answered OK and found in PostgreSQL: {found}");
    println!("storm: {:?}, wrong answers: {}", report.elapsed, report.wrong.len());
}

fn assert_sound(report: &StormReport, found: usize, total: usize) {
    assert!(report.wrong.is_empty(), "wrong answers during the storm: {:#?}", report.wrong);
    assert_eq!(report.ok.len(), total, "every check-in is answered OK in the end");
    assert_eq!(found, report.ok.len(), "every check-in answered OK is in PostgreSQL");
    assert!(
        report.refused_ms() <= MAX_REFUSED_MS,
        "check-ins were refused for {} ms (at most {MAX_REFUSED_MS} ms)",
        report.refused_ms()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_ins_ride_out_a_redis_master_failover() {
    let stack = Stack::start(ClusterAccess::Exclusive).await;
    let redis = stack.cluster.cluster.clone();
    let env = &stack.cluster.env;
    // Every roster followed live, half on each replica.
    let mut rosters = Vec::new();
    for (n, id) in stack.sessions.iter().enumerate() {
        rosters.push(RosterWatch::start(stack.replicas(), stack.teacher_tokens[n].clone(), id.clone(), n % 2).await);
    }
    // The master that dies is the one replica A's session events arrive
    // through (each replica subscribes on one master): its watchers must
    // catch up by themselves. Some sessions' keys live there too.
    let channel = env.live.keys().events(Uuid::parse_str(&stack.sessions[0]).unwrap());
    let hosts = redis.subscribed_at(&channel).await;
    let [victim] = hosts.as_slice() else { panic!("one master should carry replica A's subscription: {hosts:?}") };
    let victim = victim.clone();
    let heir = redis.replica_of(&victim).await.unwrap_or_else(|| panic!("master {victim} has no replica"));
    let mut on_victim = HashSet::new();
    for id in &stack.sessions {
        if redis.master_of(&env.live.keys().meta(Uuid::parse_str(id).unwrap())).await == victim {
            on_victim.insert(id.clone());
        }
    }
    println!(
        "stopping master {victim} (its replica {heir} takes over): replica A's session events come through it, and \
         {} of {SESSIONS} sessions live there",
        on_victim.len()
    );

    let storm = stack.storm();
    let total = storm.total;
    storm.wait_answered(total / 4).await;
    let killed = Instant::now();
    redis.kill(&victim).await;
    redis.wait_promoted(&heir, std::time::Duration::from_secs(30)).await;
    let promoted = killed.elapsed();
    let report = storm.finish().await;
    let refused_from =
        report.first_unavailable.map(|at| at.saturating_duration_since(killed).as_millis() as i64).unwrap_or(-1);

    let mut resynced = 0;
    for (n, (roster, id)) in rosters.iter().zip(&stack.sessions).enumerate() {
        roster
            .wait_for_attended(
                &stack.students_of(&report, id),
                &format!("roster stream {n} to show every check-in of its session after the failover"),
            )
            .await;
        let state = roster.state();
        assert!(state.regressions.is_empty(), "roster {n} went back: {:?}", state.regressions);
        resynced += usize::from(state.snapshots > state.opened_on.len());
    }
    // The cluster as the other tests expect it: the old master back, as a replica.
    redis.restart(&victim).await;
    let found = stack.archive_and_count(&report).await;

    print_figures("Redis master failover during a check-in storm", &report, found, total);
    let (silent, silent_from) = report.longest_silence(killed, |_| true);
    let (silent_there, _) = report.longest_silence(killed, |id| on_victim.contains(id));
    let (silent_elsewhere, _) = report.longest_silence(killed, |id| !on_victim.contains(id));
    println!(
        "no check-in answered OK for {silent} ms (from {silent_from} ms after the kill); sessions on the killed \
         master: {silent_there} ms, on the other masters: {silent_elsewhere} ms"
    );
    let refused_there: usize =
        report.unavailable_by_session.iter().filter(|(id, _)| on_victim.contains(*id)).map(|(_, n)| n).sum();
    println!(
        "master {victim} killed; {heir} promoted after {} ms; first UNAVAILABLE {refused_from} ms after the kill; \
         UNAVAILABLE for sessions on the killed master: {refused_there}, on the others: {}; \
         roster streams that caught up from a fresh snapshot: {resynced} of {SESSIONS}",
        promoted.as_millis(),
        report.unavailable - refused_there
    );
    assert_sound(&report, found, total);
}

/// How a replica is taken away, for the figures.
struct Loss {
    /// The replica's name: "B", "C".
    name: &'static str,
    /// "stopped", "killed (SIGKILL)".
    what: &'static str,
    /// "was told to stop", "was killed".
    after: &'static str,
    /// "the stop", "the kill".
    event: &'static str,
}

/// A check-in storm through replica A and `other`, half the rosters
/// followed on `other`, which `lose` takes away a quarter of the way in:
/// its check-ins and roster streams move to A, and every check-in answered
/// OK is archived.
async fn storm_while_a_replica_goes(
    stack: &Stack,
    other: (std::net::SocketAddr, attn_e2e::Clients),
    loss: Loss,
    lose: impl std::future::Future<Output = ()>,
) {
    let a_addr = stack.cluster.env.attendance_addr;
    let lost_addr = other.0;
    let replicas = [(a_addr, stack.a.clone()), other];
    // Half the rosters are followed on the replica that goes; half on A.
    let mut rosters = Vec::new();
    for (n, id) in stack.sessions.iter().enumerate() {
        let first = if n % 2 == 0 { 1 } else { 0 };
        rosters.push(RosterWatch::start(replicas.clone(), stack.teacher_tokens[n].clone(), id.clone(), first).await);
    }

    let storm = stack.storm_over(replicas);
    let total = storm.total;
    storm.wait_answered(total / 4).await;
    let lost = Instant::now();
    lose.await;
    let report = storm.finish().await;
    let refused_from =
        report.first_unavailable.map(|at| at.saturating_duration_since(lost).as_millis() as i64).unwrap_or(-1);

    let mut resumed = 0;
    for (n, (roster, id)) in rosters.iter().zip(&stack.sessions).enumerate() {
        roster
            .wait_for_attended(
                &stack.students_of(&report, id),
                &format!("roster stream {n} to show every check-in of its session"),
            )
            .await;
        let state = roster.state();
        assert!(state.regressions.is_empty(), "roster {n} went back: {:?}", state.regressions);
        if n % 2 == 0 {
            assert_eq!(state.opened_on.first(), Some(&lost_addr), "roster {n}");
            assert_eq!(state.opened_on.last(), Some(&a_addr), "roster {n} resumed on replica A: {:?}", state.opened_on);
            resumed += 1;
        } else {
            assert_eq!(state.opened_on, vec![a_addr], "roster {n} on A was never interrupted");
        }
    }
    let found = stack.archive_and_count(&report).await;
    let (silent, silent_from) = report.longest_silence(lost, |_| true);

    let Loss { name, what, after, event } = loss;
    print_figures(&format!("attendance-service replica {name} {what} during a check-in storm"), &report, found, total);
    println!(
        "first UNAVAILABLE {refused_from} ms after replica {name} {after}; {} moves to the other replica; \
         longest stretch with no check-in answered OK after {event}: {silent} ms (from {silent_from} ms); \
         roster streams on {name} that resumed on A from a fresh snapshot: {resumed} of {}",
        report.switches,
        SESSIONS / 2
    );
    assert_sound(&report, found, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_ins_and_roster_streams_move_to_the_other_replica_when_one_stops() {
    let stack = Stack::start(ClusterAccess::Shared).await;
    let b = (stack.cluster.replica_b.addr, stack.b.clone());
    let loss = Loss { name: "B", what: "stopped", after: "was told to stop", event: "the stop" };
    storm_while_a_replica_goes(&stack, b, loss, async { stack.cluster.replica_b.shutdown.trigger() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn check_ins_and_roster_streams_move_to_the_other_replica_when_one_is_killed() {
    let stack = Stack::start(ClusterAccess::Shared).await;
    // Replica C is a process of its own, so it can die as a crash or an OOM
    // kill does: SIGKILL, no drain, its connections reset mid-call.
    let mut victim = stack.cluster.start_attendance_process().await;
    let c = (victim.addr, stack.cluster.env.clients_of(victim.addr).await);
    let loss = Loss { name: "C", what: "killed (SIGKILL)", after: "was killed", event: "the kill" };
    storm_while_a_replica_goes(&stack, c, loss, victim.kill()).await;
}

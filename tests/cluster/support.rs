//! What the cluster tests share: sessions, check-ins, a roster followed
//! across replicas, a check-in storm through both replicas, the archive.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use attn_e2e::{Clients, StudentClient, TeacherClient, TestEnv, bearer, eventually};
use attn_proto::v1::{
    self as pb, AttendRequest, FinishAttendanceRequest, ListRecordsRequest, StartAttendanceRequest,
    WatchRecordsRequest, start_attendance_request::Ends, watch_records_response::Event,
};
use tonic::{Code, Status};

pub const SELFIE: &[u8] = &face_gateway_standin::TINY_JPEG;

/// How long anything that should happen by itself (an event on a stream,
/// an archive round) may take before the test fails saying what did not.
pub const WAIT: Duration = Duration::from_secs(30);

pub async fn start(teacher: &mut TeacherClient, lesson: &str, option: i32, networks: &[&str]) -> pb::Attendance {
    let request = StartAttendanceRequest {
        lesson_name: lesson.into(),
        ends: Some(Ends::Duration(prost_types::Duration { seconds: 30 * 60, nanos: 0 })),
        security_option: option,
        networks: networks.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    };
    teacher
        .start_attendance(request)
        .await
        .unwrap_or_else(|status| panic!("StartAttendance({lesson}) failed: {status:?}"))
        .into_inner()
        .attendance
        .expect("a started session")
}

pub async fn attend(
    student: &mut StudentClient,
    attendance_id: &str,
    request_id: &str,
    selfie: &[u8],
) -> Result<pb::AttendanceRecord, Status> {
    let request = AttendRequest {
        attendance_id: attendance_id.into(),
        selfie: selfie.to_vec(),
        request_id: request_id.into(),
        ..Default::default()
    };
    Ok(student.attend(request).await?.into_inner().record.expect("a record"))
}

pub fn status_of(record: &pb::AttendanceRecord) -> pb::RecordStatus {
    pb::RecordStatus::try_from(record.status).expect("a known status")
}

/// Signs in every user named (password `password`), spread over `replicas`
/// in turn, a few at a time; returns the tokens in the same order.
pub async fn sign_in_all(replicas: &[Clients], usernames: &[String]) -> Vec<String> {
    use futures::{StreamExt, stream};
    let signed_in: Vec<(usize, String)> = stream::iter(usernames.iter().enumerate())
        .map(|(i, username)| {
            let clients = replicas[i % replicas.len()].clone();
            async move {
                let token = clients
                    .login(username, "password")
                    .await
                    .unwrap_or_else(|status| panic!("{username} could not sign in: {status:?}"));
                (i, token)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut tokens = vec![String::new(); usernames.len()];
    for (i, token) in signed_in {
        tokens[i] = token;
    }
    tokens
}

/// Finishes each session and waits until the sweepers (on their schedules)
/// have archived every one of them.
pub async fn finish_and_wait_archived(teacher: &TeacherClient, ids: &[String]) {
    for id in ids {
        teacher
            .clone()
            .finish_attendance(FinishAttendanceRequest { attendance_id: id.clone() })
            .await
            .unwrap_or_else(|status| panic!("FinishAttendance({id}) failed: {status:?}"));
    }
    wait_archived(teacher, ids).await;
}

/// Waits until the owner sees every session archived.
pub async fn wait_archived(teacher: &TeacherClient, ids: &[String]) {
    for id in ids {
        eventually(WAIT, &format!("the sweepers to archive session {id}"), || {
            let mut teacher = teacher.clone();
            let id = id.clone();
            async move {
                let listed = teacher.list_records(ListRecordsRequest { attendance_id: id }).await.ok()?.into_inner();
                (listed.attendance?.state() == attn_proto::v1::AttendanceState::Archived).then_some(())
            }
        })
        .await;
    }
}

/// (attendance id, student number) of every attended record in PostgreSQL.
pub async fn archived_check_ins(env: &TestEnv) -> HashSet<(String, String)> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT attendance_id::text, student_number FROM attendance_records WHERE is_attended AND NOT is_deleted",
    )
    .fetch_all(env.archive.pool())
    .await
    .expect("the test database answers");
    rows.into_iter().collect()
}

/// May the call be tried again, on the other replica? UNAVAILABLE (what
/// ATTN answers while Redis fails over, and what a stopping replica's
/// streams end with) and the transport's own errors (a replica gone).
pub fn is_retryable(status: &Status) -> bool {
    match status.code() {
        Code::Unavailable => true,
        Code::Unknown | Code::Cancelled | Code::Internal => {
            let message = status.message();
            message.contains("transport error")
                || message.contains("connection")
                || message.contains("h2 protocol error")
                || message.contains("operation was canceled")
        }
        _ => false,
    }
}

/// One teacher's live roster of one session through WatchRecords: a stream
/// that ends retryably (its replica stopped) is opened again on the other
/// replica and resumes from the snapshot a stream begins with. Records seen
/// must all be in that snapshot (the roster never goes back).
pub struct RosterWatch {
    state: Arc<Mutex<RosterState>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Debug, Default)]
pub struct RosterState {
    pub records: HashMap<String, pb::AttendanceRecord>,
    /// The replica of each stream opened, in order.
    pub opened_on: Vec<SocketAddr>,
    /// Snapshots received: one per stream opened, plus one each time a
    /// stream caught up after missing events (a Redis reconnect, say).
    pub snapshots: usize,
    /// Snapshots that lost or undid something the watcher had already seen.
    pub regressions: Vec<String>,
    /// Why the watcher stopped following, if it did.
    pub ended: Option<String>,
}

impl RosterWatch {
    /// Opens the stream on `replicas[first]` and returns once its first
    /// snapshot arrived (so every later change reaches it).
    pub async fn start(
        replicas: [(SocketAddr, Clients); 2],
        token: String,
        attendance_id: String,
        first: usize,
    ) -> Self {
        let state = Arc::new(Mutex::new(RosterState::default()));
        let (opened, first_snapshot) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(follow(replicas, token, attendance_id, first, state.clone(), opened));
        tokio::time::timeout(WAIT, first_snapshot)
            .await
            .expect("the roster stream's first snapshot in time")
            .unwrap_or_else(|_| {
                panic!("the roster stream ended before its snapshot: {:?}", state.lock().unwrap().ended)
            });
        Self { state, task }
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, RosterState> {
        self.state.lock().expect("roster lock")
    }

    /// Waits until every one of `students` is on the roster, attended.
    pub async fn wait_for_attended(&self, students: &HashSet<String>, what: &str) {
        eventually(WAIT, what, || async {
            let state = self.state();
            if let Some(ended) = &state.ended {
                panic!("{what}: the roster stream stopped: {ended}");
            }
            students.iter().all(|s| state.records.get(s).is_some_and(|r| r.is_attended)).then_some(())
        })
        .await;
    }
}

impl Drop for RosterWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow(
    replicas: [(SocketAddr, Clients); 2],
    token: String,
    attendance_id: String,
    mut current: usize,
    state: Arc<Mutex<RosterState>>,
    opened: tokio::sync::oneshot::Sender<()>,
) {
    let mut opened = Some(opened);
    let stop = |why: String| {
        state.lock().unwrap().ended = Some(why);
    };
    loop {
        let (addr, clients) = &replicas[current];
        let request = WatchRecordsRequest { attendance_id: attendance_id.clone() };
        match clients.teacher(bearer(&token)).watch_records(request).await {
            Ok(response) => {
                state.lock().unwrap().opened_on.push(*addr);
                let mut stream = response.into_inner();
                loop {
                    match stream.message().await {
                        Ok(Some(message)) => {
                            apply(&mut state.lock().unwrap(), message.event);
                            if let Some(opened) = opened.take() {
                                let _ = opened.send(());
                            }
                        }
                        Ok(None) => return stop(format!("the stream on {addr} ended")),
                        Err(status) if is_retryable(&status) => break,
                        Err(status) => return stop(format!("the stream on {addr} failed: {status:?}")),
                    }
                }
            }
            Err(status) if is_retryable(&status) => {}
            Err(status) => return stop(format!("WatchRecords on {addr} was refused: {status:?}")),
        }
        current = 1 - current;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn apply(state: &mut RosterState, event: Option<Event>) {
    match event {
        Some(Event::Snapshot(snapshot)) => {
            state.snapshots += 1;
            let fresh: HashMap<String, pb::AttendanceRecord> =
                snapshot.records.into_iter().map(|r| (r.student_number.clone(), r)).collect();
            for (student, seen) in &state.records {
                match fresh.get(student) {
                    None => state.regressions.push(format!("{student} was on the roster, and not in a later snapshot")),
                    Some(now) if seen.is_attended && !now.is_attended => {
                        state.regressions.push(format!("{student} was attended, and not in a later snapshot"))
                    }
                    Some(_) => {}
                }
            }
            state.records = fresh;
        }
        Some(Event::Record(record)) => {
            state.records.insert(record.student_number.clone(), record);
        }
        Some(Event::Attendance(_)) | None => {}
    }
}

/// Many students checking in to many sessions at once through both
/// replicas, as phones would: each worker sticks to one replica and moves
/// to the other after UNAVAILABLE or a transport error, sending the same
/// `request_id` again, so a retried check-in can only be answered with
/// its own first answer.
pub struct Storm {
    /// Check-ins answered OK so far.
    pub answered: Arc<AtomicUsize>,
    pub total: usize,
    task: tokio::task::JoinHandle<StormReport>,
}

#[derive(Debug, Default)]
pub struct StormReport {
    /// (attendance id, student number) of every check-in answered OK.
    pub ok: HashSet<(String, String)>,
    /// When each OK answer came, and for which session.
    pub ok_at: Vec<(Instant, String)>,
    /// UNAVAILABLE (and transport error) answers, and when the first and last came.
    pub unavailable: usize,
    /// The same, by attendance id.
    pub unavailable_by_session: HashMap<String, usize>,
    pub first_unavailable: Option<Instant>,
    pub last_unavailable: Option<Instant>,
    /// Moves of a worker to the other replica.
    pub switches: usize,
    /// Anything else: an answer that is not OK, UNAVAILABLE or a transport
    /// error, an OK with someone else's record, or a check-in never answered.
    pub wrong: Vec<String>,
    pub elapsed: Duration,
}

impl StormReport {
    /// The longest stretch after `since` in which no check-in to a session
    /// `counted` was answered OK, and when it began (ms after `since`).
    pub fn longest_silence(&self, since: Instant, counted: impl Fn(&str) -> bool) -> (u128, u128) {
        let mut times: Vec<Instant> =
            self.ok_at.iter().filter(|(at, id)| *at >= since && counted(id)).map(|(at, _)| *at).collect();
        times.sort();
        let mut longest = (0, 0);
        let mut previous = since;
        for at in times {
            let gap = at.duration_since(previous).as_millis();
            if gap > longest.0 {
                longest = (gap, previous.duration_since(since).as_millis());
            }
            previous = at;
        }
        longest
    }

    /// First to last UNAVAILABLE, in ms (0 if none).
    pub fn refused_ms(&self) -> u128 {
        match (self.first_unavailable, self.last_unavailable) {
            (Some(first), Some(last)) => last.duration_since(first).as_millis(),
            _ => 0,
        }
    }
}

/// Longest one check-in may take to be answered OK, retries included.
const CHECK_IN_DEADLINE: Duration = Duration::from_secs(60);
/// Longest one call may take before the client gives up on it.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

impl Storm {
    /// Every student (number, token) checks in once to every session, by
    /// `workers` concurrent clients, each pausing `pace` between check-ins.
    pub fn start(
        replicas: [(SocketAddr, Clients); 2],
        students: Vec<(String, String)>,
        sessions: Vec<String>,
        workers: usize,
        pace: Duration,
    ) -> Self {
        let pairs: VecDeque<(usize, usize)> =
            (0..students.len()).flat_map(|s| (0..sessions.len()).map(move |a| (s, a))).collect();
        let total = pairs.len();
        let queue = Arc::new(Mutex::new(pairs));
        let report = Arc::new(Mutex::new(StormReport::default()));
        let answered = Arc::new(AtomicUsize::new(0));
        let students = Arc::new(students);
        let sessions = Arc::new(sessions);
        let replicas = Arc::new(replicas);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for worker in 0..workers {
            let (queue, report, answered) = (queue.clone(), report.clone(), answered.clone());
            let (students, sessions, replicas) = (students.clone(), sessions.clone(), replicas.clone());
            tasks.push(tokio::spawn(async move {
                let mut current = worker % 2;
                loop {
                    let Some((s, a)) = queue.lock().unwrap().pop_front() else { return };
                    let (number, token) = &students[s];
                    let id = &sessions[a];
                    let request_id = format!("storm-{number}-{id}");
                    let deadline = Instant::now() + CHECK_IN_DEADLINE;
                    loop {
                        let mut student = replicas[current].1.student(bearer(token));
                        let answer =
                            tokio::time::timeout(CALL_TIMEOUT, attend(&mut student, id, &request_id, &[])).await;
                        let retry = match answer {
                            Ok(Ok(record)) => {
                                let mut report = report.lock().unwrap();
                                if record.student_number != *number
                                    || record.attendance_id != *id
                                    || status_of(&record) != pb::RecordStatus::Attended
                                {
                                    report.wrong.push(format!("{number} in {id} was answered {record:?}"));
                                }
                                report.ok.insert((id.clone(), number.clone()));
                                report.ok_at.push((Instant::now(), id.clone()));
                                answered.fetch_add(1, Ordering::Relaxed);
                                false
                            }
                            Ok(Err(status)) if is_retryable(&status) => {
                                let now = Instant::now();
                                let mut report = report.lock().unwrap();
                                report.unavailable += 1;
                                *report.unavailable_by_session.entry(id.clone()).or_default() += 1;
                                report.first_unavailable.get_or_insert(now);
                                report.last_unavailable = Some(now);
                                report.switches += 1;
                                true
                            }
                            Ok(Err(status)) => {
                                report.lock().unwrap().wrong.push(format!("{number} in {id}: {status:?}"));
                                false
                            }
                            Err(_) => {
                                report
                                    .lock()
                                    .unwrap()
                                    .wrong
                                    .push(format!("{number} in {id}: no answer within {CALL_TIMEOUT:?}"));
                                false
                            }
                        };
                        if !retry {
                            break;
                        }
                        if Instant::now() >= deadline {
                            report.lock().unwrap().wrong.push(format!(
                                "{number} in {id}: still refused {CHECK_IN_DEADLINE:?} after the first try"
                            ));
                            break;
                        }
                        current = 1 - current;
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    tokio::time::sleep(pace).await;
                }
            }));
        }
        let task = tokio::spawn(async move {
            for task in tasks {
                task.await.expect("a storm worker panicked");
            }
            let mut report = std::mem::take(&mut *report.lock().unwrap());
            report.elapsed = started.elapsed();
            report
        });
        Self { answered, total, task }
    }

    /// Waits until `n` check-ins were answered OK.
    pub async fn wait_answered(&self, n: usize) {
        eventually(Duration::from_secs(120), &format!("{n} check-ins of the storm to be answered OK"), || async {
            (self.answered.load(Ordering::Relaxed) >= n).then_some(())
        })
        .await;
    }

    pub async fn finish(self) -> StormReport {
        self.task.await.expect("the storm ran")
    }
}

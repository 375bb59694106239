//! The open-loop load generator: users arrive on a fixed schedule whether
//! or not the server keeps up, and each user's latency counts from when it
//! was meant to start, so queueing is measured instead of hidden
//! ("coordinated omission": a closed loop slows its own arrivals down when
//! the server slows down, and never sees the queue a real crowd would).
//!
//! User `i` is due at `start + i × interval`. It then makes its calls one
//! after another, as a phone does: the first call's latency counts from the
//! due time (so any wait before it started is included), each later call's
//! from the moment the answer before it arrived. At most `max_in_flight`
//! users run at once; a user due while that many are running waits for one
//! to finish (in arrival order), and that wait is in its first call's
//! latency too. The generator says how late users started.

use std::{
    collections::BTreeMap,
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;
use tokio::sync::Semaphore;

use crate::load::{Failure, Load, histogram};

/// What one user's calls did, in order: (call name, latency, outcome).
pub type CallLog = Vec<(&'static str, Duration, Result<(), Failure>)>;

/// Times one user's calls: the first from its due time, each later one
/// from the end of the one before.
pub struct Stopwatch {
    from: Instant,
    pub log: CallLog,
}

impl Stopwatch {
    pub fn new(due: Instant) -> Self {
        Self { from: due, log: Vec::with_capacity(4) }
    }

    /// Notes a call that has just returned; gives back its value, or `None`
    /// on a failure, so a user stops at its first failure (`?`), as a phone would.
    pub fn lap<T>(&mut self, call: &'static str, result: Result<T, Failure>) -> Option<T> {
        let now = Instant::now();
        let took = now.saturating_duration_since(self.from);
        self.from = now;
        match result {
            Ok(value) => {
                self.log.push((call, took, Ok(())));
                Some(value)
            }
            Err(failure) => {
                self.log.push((call, took, Err(failure)));
                None
            }
        }
    }
}

pub struct OpenLoad {
    /// Per call name.
    pub calls: BTreeMap<&'static str, Load>,
    /// From the first due time to the last user's last answer.
    pub elapsed: Duration,
    /// How late each user started after its due time, in microseconds.
    pub start_lag_us: Histogram<u64>,
    /// Users that had to wait for one of the `max_in_flight` slots.
    pub waited_for_a_slot: u64,
    /// Users that finished all their calls.
    pub users_completed: u64,
}

/// Runs `users` users, one due every `interval`, each running `user(i, due)`.
pub async fn run<F, Fut>(users: usize, interval: Duration, max_in_flight: usize, user: F) -> OpenLoad
where
    F: Fn(usize, Instant) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = (CallLog, bool)> + Send + 'static,
{
    let user = Arc::new(user);
    let slots = Arc::new(Semaphore::new(max_in_flight.max(1)));
    let start = Instant::now() + Duration::from_millis(20);
    let mut running = Vec::with_capacity(users);
    let mut waited_for_a_slot = 0;
    for i in 0..users {
        let due = start + interval.saturating_mul(i as u32);
        tokio::time::sleep_until(due.into()).await;
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                waited_for_a_slot += 1;
                slots.clone().acquire_owned().await.expect("the semaphore is never closed")
            }
        };
        let user = user.clone();
        running.push(tokio::spawn(async move {
            let lag = due.elapsed();
            let (log, completed) = user(i, due).await;
            drop(slot);
            (lag, log, completed)
        }));
    }
    let mut calls: BTreeMap<&'static str, Load> = BTreeMap::new();
    let mut start_lag_us = histogram();
    let mut users_completed = 0;
    for task in running {
        let (lag, log, completed) = task.await.expect("an open-loop user panicked");
        start_lag_us.saturating_record(lag.as_micros().max(1) as u64);
        users_completed += u64::from(completed);
        for (call, took, result) in log {
            calls.entry(call).or_insert_with(Load::empty).record(took, result);
        }
    }
    let elapsed = start.elapsed();
    for load in calls.values_mut() {
        load.elapsed = elapsed;
    }
    OpenLoad { calls, elapsed, start_lag_us, waited_for_a_slot, users_completed }
}

#[cfg(test)]
mod tests {
    use tonic::Status;

    use super::*;

    #[tokio::test]
    async fn a_slow_server_shows_up_as_latency_from_the_due_time() {
        // Two slots, calls of 30 ms, a user due every 5 ms: users queue, and
        // their first call's latency includes the wait.
        let load = run(10, Duration::from_millis(5), 2, |i, due| async move {
            let mut watch = Stopwatch::new(due);
            tokio::time::sleep(Duration::from_millis(30)).await;
            let first = watch.lap("first", Ok::<_, Failure>(()));
            let second = if i == 3 { Err(Status::unavailable("down").into()) } else { Ok(()) };
            let done = first.and_then(|()| watch.lap("second", second)).is_some();
            (watch.log, done)
        })
        .await;
        assert_eq!(load.calls["first"].ok, 10);
        assert_eq!(load.calls["second"].ok, 9);
        assert_eq!(load.calls["second"].errors.get("Unavailable"), Some(&1));
        assert_eq!(load.users_completed, 9);
        assert!(load.waited_for_a_slot > 0);
        // The last user is due at 45 ms but can start only at about 150 ms.
        assert!(load.calls["first"].latency_us.max() >= 90_000, "{}", load.calls["first"].latency_us.max());
        assert!(load.calls["second"].latency_us.max() < 90_000);
    }
}

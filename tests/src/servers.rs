//! The servers a test starts in its own process, watched: one that stops
//! on its own (its `run()` returns an error, panics, or returns before it
//! was told to stop) fails the test at once and by name, instead of
//! surfacing later as a timeout somewhere else.
//!
//! A panic in the watching task would fail nothing (tokio keeps it in the
//! task), so the watcher writes what happened to a slot of the test's own
//! runtime (each `#[tokio::test]` has one) and prints it; the harness reads
//! the slot wherever a test goes through it — [`crate::eventually`]'s every
//! poll, each connection it opens, the [`crate::TestEnv`] helpers and its
//! drop — and panics there with the message.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Mutex, OnceLock},
};

use attn_runtime::Shutdown;
use tokio::runtime::{Handle, Id};

/// What stopped, per test runtime.
fn stopped() -> &'static Mutex<HashMap<Id, Vec<String>>> {
    static STOPPED: OnceLock<Mutex<HashMap<Id, Vec<String>>>> = OnceLock::new();
    STOPPED.get_or_init(Mutex::default)
}

/// Runs `run` (a server's `run()`) as a task, and records it if the server
/// stops on its own: with an error or a panic at any time, or with `Ok`
/// before `shutdown` was triggered. `name` says which server, e.g.
/// `attendance-service at 127.0.0.1:40123`.
pub fn spawn_watched<F>(name: String, shutdown: Shutdown, run: F)
where
    F: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let runtime = Handle::current().id();
    let server = tokio::spawn(run);
    tokio::spawn(async move {
        let why = match server.await {
            Ok(Ok(())) if shutdown.is_triggered() => return,
            Ok(Ok(())) => "it returned before it was told to stop".to_owned(),
            Ok(Err(err)) => format!("{err:#}"),
            Err(join) if join.is_panic() => {
                let panic = join.into_panic();
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_else(|| "a panic".into());
                format!("it panicked: {message}")
            }
            // The runtime is going away: the test is over.
            Err(_) => return,
        };
        let message = format!("{name} stopped: {why}");
        eprintln!("{message}");
        stopped().lock().expect("the stopped servers").entry(runtime).or_default().push(message);
    });
}

/// Panics, naming them, if servers of the current test stopped on their own.
pub fn check() {
    let Ok(handle) = Handle::try_current() else { return };
    let stopped = stopped().lock().expect("the stopped servers").get(&handle.id()).cloned().unwrap_or_default();
    if !stopped.is_empty() {
        panic!("{}", stopped.join("\n"));
    }
}

/// What [`check`] would panic with, without panicking (for a test that is
/// already failing).
pub(crate) fn report() -> Option<String> {
    let handle = Handle::try_current().ok()?;
    let stopped = stopped().lock().expect("the stopped servers").get(&handle.id()).cloned().unwrap_or_default();
    (!stopped.is_empty()).then(|| stopped.join("\n"))
}

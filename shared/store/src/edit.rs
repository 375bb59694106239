//! The one edit loop for a session or one of its records, wherever it is:
//! compare-and-set on the live copy in Redis while the session is live,
//! else the archived row in PostgreSQL, under a row lock.
//!
//! The loop holds no rules: each caller says what one attempt on the live
//! copy does, whether to go on to the archive once it leaves the live copy,
//! and what the archived edit does. Teacher edits and face results share it,
//! so they retry alike and fall back to the archive alike.

use std::future::Future;

/// Compare-and-set attempts on the live copy before giving up on it.
pub const WRITE_ATTEMPTS: usize = 8;

/// What one attempt on the live copy came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt<T> {
    /// Written, or nothing to write: the edit's answer.
    Done(T),
    /// Someone else changed it first: read again and retry.
    Changed,
    /// The session is not (or no longer) live: the archive has it.
    NotLive,
}

/// Why the loop left the live copy without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeftLive {
    /// An attempt found the session not live.
    NotLive,
    /// Every one of the [`WRITE_ATTEMPTS`] lost its race.
    Contended,
}

/// Applies an edit wherever the session is.
///
/// `live` makes one attempt on the live copy; a lost race
/// ([`Attempt::Changed`]) makes another, up to [`WRITE_ATTEMPTS`]. Once the
/// loop leaves the live copy, `settle` is told why and decides: `Err` gives
/// up with that error, `Ok` goes on to `archived`, which edits the archived
/// copy under its row lock. An error from any step ends the edit with it.
pub async fn edit_live_or_archived<T, E, Live, LiveFut, Settle, SettleFut, Archived, ArchivedFut>(
    mut live: Live,
    settle: Settle,
    archived: Archived,
) -> Result<T, E>
where
    Live: FnMut() -> LiveFut,
    LiveFut: Future<Output = Result<Attempt<T>, E>>,
    Settle: FnOnce(LeftLive) -> SettleFut,
    SettleFut: Future<Output = Result<(), E>>,
    Archived: FnOnce() -> ArchivedFut,
    ArchivedFut: Future<Output = Result<T, E>>,
{
    let left = 'live: {
        for _ in 0..WRITE_ATTEMPTS {
            match live().await? {
                Attempt::Done(answer) => return Ok(answer),
                Attempt::Changed => {}
                Attempt::NotLive => break 'live LeftLive::NotLive,
            }
        }
        LeftLive::Contended
    };
    settle(left).await?;
    archived().await
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// Runs the loop over scripted attempts; the answer and how many
    /// attempts were made.
    async fn run(
        script: &[Attempt<&'static str>],
        give_up_when_contended: bool,
    ) -> (Result<&'static str, String>, usize) {
        let made = Cell::new(0);
        let answer = edit_live_or_archived(
            || {
                let attempt = script.get(made.get()).copied().unwrap_or(Attempt::Changed);
                made.set(made.get() + 1);
                async move { Ok(attempt) }
            },
            |left| async move {
                match left {
                    LeftLive::Contended if give_up_when_contended => Err("contended".to_owned()),
                    _ => Ok(()),
                }
            },
            || async { Ok("archived") },
        )
        .await;
        (answer, made.get())
    }

    #[tokio::test]
    async fn a_live_answer_ends_the_edit() {
        assert_eq!(run(&[Attempt::Changed, Attempt::Done("live")], true).await, (Ok("live"), 2));
    }

    #[tokio::test]
    async fn a_session_no_longer_live_is_edited_in_the_archive() {
        assert_eq!(run(&[Attempt::Changed, Attempt::NotLive], true).await, (Ok("archived"), 2));
    }

    #[tokio::test]
    async fn lost_races_are_retried_a_bounded_number_of_times() {
        assert_eq!(run(&[], true).await, (Err("contended".into()), WRITE_ATTEMPTS));
        assert_eq!(run(&[], false).await, (Ok("archived"), WRITE_ATTEMPTS), "settle may send it to the archive");
    }
}

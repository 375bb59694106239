//! `sweep_attendances`: move every ended session from Redis into PostgreSQL.
//!
//! For each ended session (found through the `ending` index, never by
//! scanning keys): read a snapshot with its version, write the session, its
//! records and its live audit trail to PostgreSQL in one transaction, and
//! only after the commit remove it from Redis.
//!
//! Why no write is lost: every change to a live session (a check-in, a
//! teacher's edit, a face result, finish or delete) runs in a Redis script
//! that bumps the session's version in the same atomic step. The removal is
//! itself a script that deletes the session only if the version is still the
//! one archived. So a change that lands after the snapshot keeps the session
//! in Redis, and the next round archives it again (upserts converge on the
//! latest state). A change that comes after the removal finds no session in
//! Redis, and the caller writes to PostgreSQL instead, where the committed
//! archive already is.
//!
//! Why an older snapshot never wins: the archive keeps the live version each
//! row was written from and replaces a row only with a newer one, so two
//! rounds that overlap (a lease lost mid-round, a Redis failover that brought
//! back an older copy) cannot commit a stale state over a newer one. A round
//! also stops before its next commit once its lease is lost.

use attn_domain::RecordStatus;
use attn_store::{
    StoreError,
    archive::{Archived, SessionToArchive},
    lease::{LeaseGuard, LeaseLost},
    live::RemoveOutcome,
};
use futures::StreamExt;
use uuid::Uuid;

use super::{Deps, Summary};

enum Swept {
    /// Written and removed from Redis: (records written).
    Done(u64),
    /// The archive already held this version or a newer one; removed from
    /// Redis if it had not changed.
    AlreadyArchived,
    /// Written, but changed meanwhile: stays in Redis for the next round.
    ChangedMeanwhile,
    /// Ended, but face checks are still pending within the grace period.
    Waiting,
    /// In the index, but no such session: a crash between indexing and writing.
    Orphan,
}

/// One round. `lease` is checked before each session's commit.
pub async fn sweep_attendances(deps: &Deps, lease: &LeaseGuard) -> Summary {
    let mut summary = Summary::default();
    let now = deps.clock.now_ms();
    let ended = match deps.live.ended_sessions(now, deps.settings.batch_size).await {
        Ok(ended) => ended,
        Err(err) => {
            summary.fail_round(&err);
            return summary;
        }
    };
    summary.add("sessions_found", ended.len() as u64);
    let mut results = futures::stream::iter(ended)
        .map(|id| async move { (id, archive_one(deps, lease, id, now).await) })
        .buffer_unordered(deps.settings.concurrency.max(1));
    while let Some((id, result)) = results.next().await {
        match result {
            Ok(Swept::Done(records)) => {
                summary.add("sessions_archived", 1);
                summary.add("records_written", records);
            }
            Ok(Swept::AlreadyArchived) => summary.add("sessions_already_archived", 1),
            Ok(Swept::ChangedMeanwhile) => summary.add("sessions_changed_while_archiving", 1),
            Ok(Swept::Waiting) => summary.add("sessions_waiting_for_face_checks", 1),
            Ok(Swept::Orphan) => summary.add("orphan_index_entries_dropped", 1),
            // The store itself is down: every other session would fail the same
            // way after its own timeout, so stop and let the next round retry.
            Err(Failed::Store(err)) if err.is_unavailable() => {
                summary.fail_round(&err);
                break;
            }
            // Another replica runs the job now; it will archive the rest.
            Err(Failed::Lease(lost)) => {
                summary.fail_round_because(lost.to_string());
                break;
            }
            Err(Failed::Store(err)) => {
                tracing::error!(attendance_id = %id, error = %err, "could not archive session; will retry next round");
                summary.fail_item(format!("{id}: {err}"));
            }
        }
    }
    summary
}

enum Failed {
    Store(StoreError),
    Lease(LeaseLost),
}

impl From<StoreError> for Failed {
    fn from(err: StoreError) -> Self {
        Self::Store(err)
    }
}

async fn archive_one(deps: &Deps, lease: &LeaseGuard, id: Uuid, now: i64) -> Result<Swept, Failed> {
    let Some(snapshot) = deps.live.snapshot(id).await? else {
        deps.live.drop_orphan_index_entry(id).await?;
        return Ok(Swept::Orphan);
    };
    if let Some((student, why)) = snapshot.malformed.first() {
        return Err(StoreError::corrupt(
            format!("record {student:?} of session {id} ({} unreadable)", snapshot.malformed.len()),
            why,
        )
        .into());
    }
    let pending = snapshot.records.iter().any(|r| r.status() == RecordStatus::Pending);
    let grace_ms = deps.settings.grace.as_millis() as i64;
    if pending && now < snapshot.meta.end_ms + grace_ms {
        return Ok(Swept::Waiting);
    }
    let audit = deps.live.audit_entries(id).await?;
    lease.check().map_err(Failed::Lease)?;
    let written = deps
        .archive
        .archive_session(SessionToArchive {
            meta: &snapshot.meta,
            version: snapshot.version,
            records: &snapshot.records,
            enrolled: &snapshot.enrolled,
            audit: &audit,
        })
        .await?;
    // Gone: another round archived and removed it (an equal or newer
    // version, since the removal compares versions); nothing is left to do.
    match (deps.live.remove_archived(id, snapshot.version).await?, written) {
        (RemoveOutcome::Changed, _) => Ok(Swept::ChangedMeanwhile),
        (RemoveOutcome::Removed | RemoveOutcome::Gone, outcome) => {
            let students: Vec<String> = snapshot.records.iter().map(|r| r.student_number.clone()).collect();
            deps.live.unindex(id, &snapshot.meta.teacher_school_number, &students).await?;
            Ok(match outcome {
                Archived::Written(records) => Swept::Done(records),
                Archived::Stale => Swept::AlreadyArchived,
            })
        }
    }
}

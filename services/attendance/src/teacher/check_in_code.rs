//! WatchCheckInCode: the rotating code for the teacher's projector.
//!
//! The code is computed from the session's secret and the clock (see
//! `attn_domain::check_in_code`), so every replica shows the same code and
//! nothing is written per rotation. The stream reads the session once, sends
//! the current code, then sleeps until the next window begins (or the
//! session's end, if sooner). It follows the session's events as
//! WatchRecords does, so a finish or a delete from any replica ends it at
//! once; it also ends at the session's end time, with its sign-in (as
//! every stream does), and with UNAVAILABLE on shutdown.

use std::{sync::Arc, time::Duration};

use attn_domain::{
    SessionMeta,
    check_in_code::{CheckInCode, ShownCode},
    validate,
};
use attn_proto::v1 as pb;
use attn_runtime::{ApiError, ApiResult, Caller, Reason};
use attn_store::events::{HubMessage, SessionEvent, Subscription};
use tokio::sync::broadcast::error::RecvError;
use uuid::Uuid;

use super::no_such_session;
use crate::{
    context::Context,
    convert,
    streams::{self, BoxStream, Outbox},
};

/// One code per window: a client is never more than a message or two behind.
const STREAM_BUFFER: usize = 4;

fn ended() -> ApiError {
    ApiError::new(Reason::SessionEnded, "this attendance session has ended")
}

/// `<ATTN_PUBLIC_URL>/?attendance=<id>&code=<code>`: the browser app's
/// check-in page with both filled in. Empty without ATTN_PUBLIC_URL. The id
/// is a UUID and the code six digits, so neither needs escaping.
pub fn qr_payload(public_url: Option<&str>, id: Uuid, code: &str) -> String {
    public_url.map(|base| format!("{base}/?attendance={id}&code={code}")).unwrap_or_default()
}

fn message(shown: &ShownCode, public_url: Option<&str>, id: Uuid) -> pb::WatchCheckInCodeResponse {
    pb::WatchCheckInCodeResponse {
        code: shown.code.clone(),
        valid_until: Some(convert::timestamp(shown.valid_until_ms)),
        accepted_until: Some(convert::timestamp(shown.accepted_until_ms)),
        qr_payload: qr_payload(public_url, id, &shown.code),
    }
}

pub async fn watch(
    ctx: &Arc<Context>,
    caller: &Caller,
    attendance_id: &str,
) -> ApiResult<BoxStream<pb::WatchCheckInCodeResponse>> {
    let id = validate::attendance_id(attendance_id)?;
    let teacher = caller.school_number();
    let subscription = ctx.hub.subscribe(id).await?;
    let Some((meta, secret)) = ctx.live.session_with_code_secret(id).await? else {
        // Archived (so it has ended), or no such session.
        return Err(match ctx.archive.attendance(id).await? {
            Some(meta) if meta.is_owned_by(teacher) => ended(),
            _ => no_such_session(id),
        });
    };
    if !meta.is_owned_by(teacher) {
        return Err(no_such_session(id));
    }
    let (Some(period_secs), Some(secret)) = (meta.check_in_code_period_secs, secret) else {
        return Err(ApiError::new(
            Reason::CheckInCodeNotRequired,
            "this attendance session asks for no check-in code; start one with require_check_in_code",
        ));
    };
    if !meta.is_active(ctx.now_ms()) {
        return Err(ended());
    }
    let code = CheckInCode { secret, period_secs };
    let span = tracing::info_span!("watch_check_in_code stream", attendance_id = %id);
    streams::open(ctx, caller, "watch_check_in_code", STREAM_BUFFER, span, move |outbox| {
        follow(ctx.clone(), meta, code, subscription, outbox)
    })
}

/// What the session's events say about how long the stream lasts.
enum Change {
    /// The session now ends at this time (Unix ms).
    EndsAt(i64),
    Over,
    Nothing,
}

fn change_of(meta: &SessionMeta, now: i64) -> Change {
    if meta.is_active(now) { Change::EndsAt(meta.end_ms) } else { Change::Over }
}

/// What an event, or a gap in the events, means for how long the stream lasts.
async fn change_after(ctx: &Context, id: Uuid, message: Result<HubMessage, RecvError>) -> ApiResult<Change> {
    Ok(match message {
        Ok(HubMessage::Event(event)) => match &*event {
            SessionEvent::Session { meta, .. } => change_of(meta, ctx.now_ms()),
            SessionEvent::Archived { .. } => Change::Over,
            SessionEvent::Record { .. } => Change::Nothing,
        },
        Ok(HubMessage::Resync) | Err(RecvError::Lagged(_)) => match ctx.live.session(id).await? {
            Some(session) => change_of(&session.meta, ctx.now_ms()),
            None => Change::Over,
        },
        Err(RecvError::Closed) => Change::Over,
    })
}

async fn follow(
    ctx: Arc<Context>,
    meta: SessionMeta,
    code: CheckInCode,
    mut subscription: Subscription,
    mut outbox: Outbox<pb::WatchCheckInCodeResponse>,
) {
    let id = meta.attendance_id;
    let public_url = ctx.public_url.clone();
    let mut end_ms = meta.end_ms;
    let mut sent_window = None;
    loop {
        let now = ctx.now_ms();
        if now >= end_ms {
            return;
        }
        let shown = code.shown_at(now);
        if sent_window != Some(shown.window) {
            if !outbox.send(Ok(message(&shown, public_url.as_deref(), id))).await {
                return;
            }
            sent_window = Some(shown.window);
        }
        // Woken at the next boundary by tokio's clock; if that runs a hair
        // ahead of the wall clock, the window has not moved yet and the loop
        // just sleeps the rest.
        let wake_ms = shown.valid_until_ms.min(end_ms);
        let sleep = tokio::time::sleep(Duration::from_millis(u64::try_from(wake_ms - now).unwrap_or(0)));
        let woken = outbox.until_stream_ends(async {
            tokio::select! {
                () = sleep => None,
                message = subscription.receiver.recv() => Some(message),
            }
        });
        let Some(woken) = woken.await else {
            return;
        };
        let change = match woken {
            // The next window (or the session's end) has come.
            None => Change::Nothing,
            Some(message) => match change_after(&ctx, id, message).await {
                Ok(change) => change,
                Err(err) => {
                    let _ = outbox.send(Err(err.into())).await;
                    return;
                }
            },
        };
        match change {
            Change::Over => return,
            Change::EndsAt(ms) => end_ms = ms,
            Change::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_qr_payload_opens_the_check_in_page_with_session_and_code() {
        let id = Uuid::nil();
        assert_eq!(
            qr_payload(Some("https://attn.example.edu"), id, "012345"),
            "https://attn.example.edu/?attendance=00000000-0000-0000-0000-000000000000&code=012345"
        );
        assert_eq!(qr_payload(None, id, "012345"), "");
    }
}

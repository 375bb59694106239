//! The machinery every server stream shares (WatchRecords, WatchMyRecord,
//! WatchCheckInCode): opening one, counting it, and ending it early.
//!
//! A stream runs as a task of its own that feeds the client through an
//! [`Outbox`]. Besides its own end, every stream ends when the client goes
//! away (its resources are released at once, not at the next message), when
//! the server shuts down (with UNAVAILABLE, so clients reconnect to another
//! replica), or when the sign-in it was opened with ends (with
//! UNAUTHENTICATED; see `sign_in.rs`). The handlers use this module; it
//! knows nothing of them.

mod follow;
mod sign_in;

use std::{future::Future, pin::Pin};

use attn_runtime::{ApiError, ApiResult, Caller, Reason, Shutdown};
use futures::{Stream, StreamExt as _};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tracing::Instrument as _;

pub use follow::{Feed, Next, follow};
use sign_in::SignInWatch;
pub use sign_in::StreamSlots;

use crate::{context::Context, measures::OpenStream};

pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// A file already cut into chunks, as a finite stream of messages.
pub fn file_stream<T: Send + 'static>(chunks: Vec<Vec<u8>>, message: fn(Vec<u8>) -> T) -> BoxStream<T> {
    Box::pin(futures::stream::iter(chunks.into_iter().map(move |chunk| Ok(message(chunk)))))
}

/// A stream's task end: where its messages go, and what may end it early.
pub struct Outbox<T> {
    sender: mpsc::Sender<Result<T, Status>>,
    sign_in: SignInWatch,
    shutdown: Shutdown,
}

impl<T> Outbox<T> {
    /// Sends one message (or the error that ends the stream); false once the client has gone.
    pub async fn send(&self, item: Result<T, Status>) -> bool {
        self.sender.send(item).await.is_ok()
    }

    /// What `work` yields, unless the stream ends first: None when the client
    /// has gone, or when the server is shutting down or the sign-in has ended
    /// (the client is told which).
    pub async fn until_stream_ends<F: Future>(&mut self, work: F) -> Option<F::Output> {
        tokio::select! {
            () = self.sender.closed() => None,
            () = self.shutdown.triggered() => {
                let _ = self.sender.send(Err(shutting_down())).await;
                None
            }
            status = self.sign_in.ended() => {
                let _ = self.sender.send(Err(status)).await;
                None
            }
            output = work => Some(output),
        }
    }
}

/// Opens a stream for `caller`: takes a slot among their open streams, runs
/// `task` in `span` with the stream's [`Outbox`], and counts the stream in
/// `attn_streams_open{kind}` while the client holds it. `buffer` is how many
/// messages the client may fall behind by before `task` waits.
pub fn open<T, Task>(
    ctx: &Context,
    caller: &Caller,
    kind: &'static str,
    buffer: usize,
    span: tracing::Span,
    task: impl FnOnce(Outbox<T>) -> Task,
) -> ApiResult<BoxStream<T>>
where
    T: Send + 'static,
    Task: Future<Output = ()> + Send + 'static,
{
    let slot = ctx.streams.take(caller.school_number())?;
    let sign_in = SignInWatch::new(caller, &ctx.revocations, ctx.tokens.clone(), slot);
    let (sender, receiver) = mpsc::channel(buffer);
    let outbox = Outbox { sender, sign_in, shutdown: ctx.shutdown.clone() };
    // The stream outlives the RPC's span; `span`, a child of it, keeps the
    // task's log lines (and trace) tied to the call that opened it.
    tokio::spawn(task(outbox).instrument(span));
    Ok(counted(ReceiverStream::new(receiver), OpenStream::new(&ctx.metrics, kind)))
}

/// `stream`, counted in `attn_streams_open` until the client's side of it is dropped.
fn counted<T: Send + 'static>(stream: ReceiverStream<Result<T, Status>>, open: OpenStream) -> BoxStream<T> {
    Box::pin(stream.map(move |item| {
        let _held = &open;
        item
    }))
}

fn shutting_down() -> Status {
    ApiError::new(Reason::ShuttingDown, "ATTN is restarting; reconnect to continue").into()
}

// Keeps a server stream open: reconnects with exponential backoff (with
// jitter) when it drops, and stops for good on errors that retrying cannot
// fix (signed out, not allowed, gone) or when the caller aborts.
import { Code, ConnectError } from "@connectrpc/connect";

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** 0 = exact delays; 0.5 = each delay drawn from [50%, 100%] of the nominal one. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1000, maxMs: 30_000, factor: 2, jitter: 0.5 };

/** The wait before reconnect number `attempt` (0-based). */
export function backoffDelay(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const nominal = Math.min(o.maxMs, o.initialMs * o.factor ** Math.max(0, attempt));
  const j = Math.min(1, Math.max(0, o.jitter));
  return Math.round(nominal * (1 - j * random()));
}

const FATAL = new Set<Code>([
  Code.Unauthenticated,
  Code.PermissionDenied,
  Code.NotFound,
  Code.InvalidArgument,
  Code.Unimplemented,
  Code.FailedPrecondition,
]);

/** Errors a reconnect cannot fix. Everything else (unavailable, network, internal…) is retried. */
export function isFatalStreamError(err: ConnectError): boolean {
  return FATAL.has(err.code);
}

export type WatchState =
  | { kind: "connecting"; attempt: number }
  | { kind: "live" }
  | { kind: "retrying"; attempt: number; delayMs: number; error?: ConnectError }
  /** Ended cleanly; reopening after `delayMs` to look for later changes. */
  | { kind: "waiting"; delayMs: number }
  | { kind: "ended" }
  | { kind: "failed"; error: ConnectError };

export interface WatchOptions<T> {
  open: (signal: AbortSignal) => AsyncIterable<T>;
  onMessage: (msg: T) => void;
  onState?: (s: WatchState) => void;
  /**
   * Called when the server ends the stream cleanly: false (the default) to
   * stop, true to reopen it after the usual backoff, or a number of
   * milliseconds to wait before reopening it (re-checking for later changes).
   */
  reconnectAfterEnd?: () => boolean | number;
  isFatal?: (err: ConnectError) => boolean;
  signal: AbortSignal;
  backoff?: BackoffOptions;
  random?: () => number;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/** Runs until the stream ends for good, fails fatally, or `signal` aborts. */
export async function watchWithRetry<T>(o: WatchOptions<T>): Promise<void> {
  const { signal } = o;
  const isFatal = o.isFatal ?? isFatalStreamError;
  const sleep = o.sleep ?? abortableSleep;
  let attempt = 0;
  while (!signal.aborted) {
    o.onState?.({ kind: "connecting", attempt });
    let error: ConnectError | undefined;
    try {
      let first = true;
      for await (const msg of o.open(signal)) {
        if (signal.aborted) return;
        if (first) {
          first = false;
          attempt = 0;
          o.onState?.({ kind: "live" });
        }
        o.onMessage(msg);
      }
      if (signal.aborted) return;
      const again = o.reconnectAfterEnd?.() ?? false;
      if (again === false) {
        o.onState?.({ kind: "ended" });
        return;
      }
      if (typeof again === "number") {
        o.onState?.({ kind: "waiting", delayMs: again });
        await sleep(again, signal);
        continue;
      }
    } catch (e) {
      if (signal.aborted) return;
      error = ConnectError.from(e);
      if (isFatal(error)) {
        o.onState?.({ kind: "failed", error });
        return;
      }
    }
    const delayMs = backoffDelay(attempt, o.backoff, o.random);
    attempt++;
    o.onState?.({ kind: "retrying", attempt, delayMs, ...(error ? { error } : {}) });
    await sleep(delayMs, signal);
  }
}

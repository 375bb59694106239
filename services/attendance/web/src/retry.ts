// Retrying a unary call that is safe to repeat (Attend with the same
// request_id returns the first answer), only on errors that mean "the answer
// may never have arrived".
import { Code, ConnectError } from "@connectrpc/connect";
import { isNetworkFailure } from "./errors.js";
import { abortableSleep, backoffDelay, type BackoffOptions } from "./watch.js";

export function isTransient(err: ConnectError): boolean {
  return err.code === Code.Unavailable || err.code === Code.DeadlineExceeded || isNetworkFailure(err);
}

export interface RetryOptions {
  retries: number;
  backoff?: BackoffOptions;
  signal?: AbortSignal;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  random?: () => number;
}

export async function callWithRetry<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  const signal = o.signal ?? new AbortController().signal;
  const sleep = o.sleep ?? abortableSleep;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const err = ConnectError.from(e);
      if (attempt >= o.retries || !isTransient(err) || signal.aborted) throw err;
      await sleep(backoffDelay(attempt, o.backoff, o.random), signal);
    }
  }
}

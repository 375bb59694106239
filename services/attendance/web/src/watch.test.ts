import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { callWithRetry } from "./retry.js";
import { backoffDelay, DEFAULT_BACKOFF, watchWithRetry, type WatchState } from "./watch.js";

describe("backoffDelay", () => {
  const exact = { ...DEFAULT_BACKOFF, jitter: 0 };
  it("doubles up to the cap", () => {
    expect([0, 1, 2, 3, 4, 5, 6, 10].map((n) => backoffDelay(n, exact))).toEqual([
      1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000,
    ]);
  });
  it("jitters downwards within the configured share", () => {
    expect(backoffDelay(2, DEFAULT_BACKOFF, () => 0)).toBe(4000);
    expect(backoffDelay(2, DEFAULT_BACKOFF, () => 1)).toBe(2000);
    expect(backoffDelay(2, DEFAULT_BACKOFF, () => 0.5)).toBe(3000);
  });
});

type Script = Array<{ messages: number[]; then?: ConnectError }>;

/** A fake server stream: each open() plays the next scripted connection. */
function fakeStream(script: Script) {
  let opened = 0;
  return {
    get opened() {
      return opened;
    },
    open: (_signal: AbortSignal): AsyncIterable<number> => {
      const step = script[opened++];
      return (async function* () {
        if (!step) throw new ConnectError("no more scripted connections", Code.PermissionDenied);
        for (const m of step.messages) yield m;
        if (step.then) throw step.then;
      })();
    },
  };
}

describe("watchWithRetry", () => {
  it("reconnects after a drop with backoff, resetting it once messages flow", async () => {
    const s = fakeStream([
      { messages: [], then: new ConnectError("down", Code.Unavailable) },
      { messages: [], then: new ConnectError("still down", Code.Unavailable) },
      { messages: [1, 2], then: new ConnectError("reset", Code.Internal) },
      { messages: [3] },
    ]);
    const got: number[] = [];
    const states: WatchState[] = [];
    const sleeps: number[] = [];
    await watchWithRetry({
      signal: new AbortController().signal,
      open: s.open,
      onMessage: (m) => got.push(m),
      onState: (st) => states.push(st),
      random: () => 0,
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(got).toEqual([1, 2, 3]);
    expect(s.opened).toBe(4);
    expect(sleeps).toEqual([1000, 2000, 1000]);
    expect(states.map((x) => x.kind)).toEqual([
      "connecting", "retrying", "connecting", "retrying", "connecting", "live", "retrying", "connecting", "live", "ended",
    ]);
    const retry = states[1] as Extract<WatchState, { kind: "retrying" }>;
    expect(retry.error?.code).toBe(Code.Unavailable);
  });

  it("stops on an error a retry cannot fix", async () => {
    const s = fakeStream([{ messages: [1], then: new ConnectError("expired", Code.Unauthenticated) }]);
    const states: WatchState[] = [];
    await watchWithRetry({
      signal: new AbortController().signal,
      open: s.open,
      onMessage: () => undefined,
      onState: (st) => states.push(st),
      sleep: async () => undefined,
    });
    expect(s.opened).toBe(1);
    const last = states.at(-1)!;
    expect(last.kind).toBe("failed");
    expect(last.kind === "failed" && last.error.code).toBe(Code.Unauthenticated);
  });

  it("reopens a cleanly ended stream only when asked to", async () => {
    const s = fakeStream([{ messages: [1] }, { messages: [2] }, { messages: [3] }]);
    const got: number[] = [];
    await watchWithRetry({
      signal: new AbortController().signal,
      open: s.open,
      onMessage: (m) => got.push(m),
      reconnectAfterEnd: () => got.length < 2,
      sleep: async () => undefined,
    });
    expect(got).toEqual([1, 2]);
    expect(s.opened).toBe(2);
  });

  it("re-checks a cleanly ended stream after a fixed delay when asked to", async () => {
    const s = fakeStream([{ messages: [1] }, { messages: [1] }, { messages: [2] }]);
    const got: number[] = [];
    const states: WatchState[] = [];
    const sleeps: number[] = [];
    await watchWithRetry({
      signal: new AbortController().signal,
      open: s.open,
      onMessage: (m) => got.push(m),
      onState: (st) => states.push(st),
      reconnectAfterEnd: () => (got.at(-1) === 2 ? false : 5000),
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(got).toEqual([1, 1, 2]);
    expect(sleeps).toEqual([5000, 5000]);
    expect(states.filter((x) => x.kind === "waiting")).toEqual([
      { kind: "waiting", delayMs: 5000 },
      { kind: "waiting", delayMs: 5000 },
    ]);
    expect(states.at(-1)).toEqual({ kind: "ended" });
  });

  it("stops quietly when the caller aborts", async () => {
    const ac = new AbortController();
    const s = fakeStream([
      { messages: [1], then: new ConnectError("down", Code.Unavailable) },
      { messages: [2] },
    ]);
    const states: WatchState[] = [];
    await watchWithRetry({
      signal: ac.signal,
      open: s.open,
      onMessage: () => undefined,
      onState: (st) => states.push(st),
      sleep: async () => ac.abort(),
    });
    expect(s.opened).toBe(1);
    expect(states.map((x) => x.kind)).toEqual(["connecting", "live", "retrying"]);
  });
});

describe("callWithRetry", () => {
  it("repeats the same call on UNAVAILABLE and returns the first success", async () => {
    let calls = 0;
    const sleeps: number[] = [];
    const result = await callWithRetry(
      async () => {
        calls++;
        if (calls < 3) throw new ConnectError("down", Code.Unavailable);
        return "ok";
      },
      { retries: 2, random: () => 0, sleep: async (ms) => void sleeps.push(ms) },
    );
    expect(result).toBe("ok");
    expect(calls).toBe(3);
    expect(sleeps).toEqual([1000, 2000]);
  });

  it("retries a failed fetch but gives up after the limit", async () => {
    let calls = 0;
    await expect(
      callWithRetry(
        async () => {
          calls++;
          throw new TypeError("Failed to fetch");
        },
        { retries: 1, sleep: async () => undefined },
      ),
    ).rejects.toMatchObject({ code: Code.Unknown });
    expect(calls).toBe(2);
  });

  it("does not retry answers from the server", async () => {
    let calls = 0;
    await expect(
      callWithRetry(
        async () => {
          calls++;
          throw new ConnectError("already attended", Code.AlreadyExists);
        },
        { retries: 3, sleep: async () => undefined },
      ),
    ).rejects.toMatchObject({ code: Code.AlreadyExists });
    expect(calls).toBe(1);
  });
});

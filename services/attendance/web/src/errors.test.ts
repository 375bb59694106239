import { BinaryWriter } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { codeName, describeError, errorReason, humanizeFieldMessage, isNetworkFailure } from "./errors.js";

/** A google.rpc.ErrorInfo as the server encodes it: reason 1, domain 2, metadata 3. */
function errorInfo(reason: string, domain = "attn.v1"): { type: string; value: Uint8Array } {
  const w = new BinaryWriter().tag(1, 2).string(reason).tag(2, 2).string(domain);
  w.tag(3, 2).fork().tag(1, 2).string("attendance_id").tag(2, 2).string("0190").join();
  return { type: "google.rpc.ErrorInfo", value: w.finish() };
}

/** An error as the grpc-web client makes it from the wire: details undecoded. */
function withDetails(code: Code, msg: string, details: { type: string; value: Uint8Array }[]): ConnectError {
  const e = new ConnectError(msg, code);
  e.details.push(...details);
  return e;
}

const withReason = (code: Code, msg: string, reason: string, domain?: string) =>
  withDetails(code, msg, [errorInfo(reason, domain)]);

const err = (code: Code, msg = "") => new ConnectError(msg, code);

describe("describeError", () => {
  it("names the field for INVALID_ARGUMENT", () => {
    expect(describeError(err(Code.InvalidArgument, "lesson_name: is required"))).toBe(
      "Please check your input: Lesson name: is required.",
    );
    expect(describeError(err(Code.InvalidArgument, "request_id: must be 1 to 64 characters."))).toBe(
      "Please check your input: Request id: must be 1 to 64 characters.",
    );
    expect(describeError(err(Code.InvalidArgument))).toBe("Please check your input: a value is not valid.");
  });

  it("asks to sign in again for UNAUTHENTICATED", () => {
    expect(describeError(err(Code.Unauthenticated, "token expired"))).toBe(
      "You are not signed in or your session has expired. Please sign in again. (token expired.)",
    );
  });

  it.each([
    [Code.PermissionDenied, "not your session", /not allowed.*not your session/],
    [Code.NotFound, "attendance not found", /^Not found.*attendance not found/],
    [Code.AlreadyExists, "already attended", /^Already done.*already attended/],
    [Code.FailedPrecondition, "the session has ended", /can't be done right now.*the session has ended/],
    [Code.ResourceExhausted, "", /^Too many requests\. Please wait a moment and try again\.$/],
    [Code.Unavailable, "verification-service down", /unavailable right now.*try again.*verification-service down/],
    [Code.DeadlineExceeded, "", /took too long/],
    [Code.Canceled, "", /cancelled/],
    [Code.Aborted, "", /clashed/],
    [Code.OutOfRange, "page_size: too big", /out of range.*Page size: too big/],
    [Code.Unimplemented, "", /does not offer this operation/],
    [Code.Internal, "", /internal error/],
    [Code.DataLoss, "", /lost or damaged/],
    [Code.Unknown, "boom", /^Something went wrong\. Please try again\. \(boom\.\)$/],
  ])("code %s gives a clear message", (code, msg, re) => {
    expect(describeError(err(code, msg))).toMatch(re);
  });

  it("has a distinct message for every gRPC status code", () => {
    const codes = Object.values(Code).filter((v): v is Code => typeof v === "number");
    expect(codes).toHaveLength(16);
    const texts = new Set(codes.map((c) => describeError(err(c))));
    expect(texts.size).toBe(16);
    for (const t of texts) expect(t.length).toBeGreaterThan(10);
  });

  it("recognises a failed fetch as the service being unreachable", () => {
    const e = ConnectError.from(new TypeError("Failed to fetch"));
    expect(isNetworkFailure(e)).toBe(true);
    expect(describeError(e)).toBe("Cannot reach the attendance service. Check your connection and try again.");
  });

  it("handles errors that are not ConnectErrors", () => {
    expect(describeError(new Error("oops"))).toBe("Something went wrong. Please try again. (oops.)");
    expect(describeError("plain string")).toMatch(/plain string/);
    const abort = new DOMException("The operation was aborted.", "AbortError");
    expect(describeError(abort)).toBe("The request was cancelled.");
  });
});

describe("errorReason", () => {
  it("reads ATTN's reason code from the ErrorInfo detail", () => {
    expect(errorReason(withReason(Code.FailedPrecondition, "ended", "SESSION_ENDED"))).toBe("SESSION_ENDED");
  });
  it("ignores other domains, other details and errors without any", () => {
    expect(errorReason(withReason(Code.FailedPrecondition, "x", "SESSION_ENDED", "example.com"))).toBeUndefined();
    const other = withDetails(Code.Internal, "x", [{ type: "google.rpc.DebugInfo", value: new Uint8Array([10, 1, 65]) }]);
    expect(errorReason(other)).toBeUndefined();
    const garbage = withDetails(Code.Internal, "x", [{ type: "google.rpc.ErrorInfo", value: new Uint8Array([255, 255]) }]);
    expect(errorReason(garbage)).toBeUndefined();
    expect(errorReason(err(Code.NotFound, "x"))).toBeUndefined();
  });
});

describe("describeError with a reason code", () => {
  it("prefers the reason's sentence to the status code's", () => {
    // Not "That can't be done right now (...)": the code says which rule.
    expect(describeError(withReason(Code.FailedPrecondition, "this attendance session has ended", "SESSION_ENDED"))).toBe(
      "This attendance session has ended; check-ins are closed.",
    );
    expect(describeError(withReason(Code.AlreadyExists, "you have already attended", "ALREADY_CHECKED_IN"))).toBe(
      "You have already checked in to this session.",
    );
    expect(describeError(withReason(Code.Unauthenticated, "the token is invalid", "TOKEN_INVALID"))).toMatch(/sign in again/);
  });
  it("tells an excused student there is nothing to check in to", () => {
    const excused = withReason(Code.FailedPrecondition, "your teacher excused you from this session", "EXCUSED");
    expect(describeError(excused)).toBe(
      "Your teacher has excused you from this session, so there is nothing to check in to. Ask them if that is a mistake.",
    );
    expect(codeName(excused)).toBe("EXCUSED");
  });
  it("keeps the server's words where they say how long to wait", () => {
    const limited = withReason(Code.ResourceExhausted, "too many check-in attempts; try again in 12 s", "RATE_LIMITED");
    expect(describeError(limited)).toBe("Too many attempts. Please wait and try again. (too many check-in attempts; try again in 12 s.)");
  });
  it("falls back to the status code for reasons it has no sentence for", () => {
    expect(describeError(withReason(Code.Unavailable, "Redis is down", "DEPENDENCY_UNAVAILABLE"))).toMatch(
      /unavailable right now.*Redis is down/,
    );
  });
  it("shows the reason as the code name", () => {
    expect(codeName(withReason(Code.FailedPrecondition, "x", "SESSION_ENDED"))).toBe("SESSION_ENDED");
  });
});

describe("humanizeFieldMessage", () => {
  it("rewrites a leading snake_case field name", () => {
    expect(humanizeFieldMessage("networks: 10.0.0.0/33 is not a CIDR")).toBe("Networks: 10.0.0.0/33 is not a CIDR");
    expect(humanizeFieldMessage("page.page_size: too big")).toBe("Page page size: too big");
  });
  it("leaves other messages alone", () => {
    expect(humanizeFieldMessage("Lesson name is required")).toBe("Lesson name is required");
    expect(humanizeFieldMessage("  ")).toBe("");
  });
});

describe("codeName", () => {
  it("gives the gRPC name", () => {
    expect(codeName(err(Code.ResourceExhausted))).toBe("RESOURCE_EXHAUSTED");
    expect(codeName(err(Code.Unauthenticated))).toBe("UNAUTHENTICATED");
    expect(codeName(new Error("x"))).toBe("UNKNOWN");
  });
});

import { Code, ConnectError } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { codeName, describeError, humanizeFieldMessage, isNetworkFailure } from "./errors.js";

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

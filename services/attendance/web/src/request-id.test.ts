import { describe, expect, it } from "vitest";
import { isValidRequestId, newRequestId, REQUEST_ID_MAX } from "./request-id.js";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("newRequestId", () => {
  it("is a UUID within Attend's 1..64 characters", () => {
    const id = newRequestId();
    expect(id).toMatch(UUID_V4);
    expect(isValidRequestId(id)).toBe(true);
  });

  it("is fresh for every attempt", () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newRequestId()));
    expect(ids.size).toBe(1000);
  });

  it("uses crypto.randomUUID when present", () => {
    expect(newRequestId({ randomUUID: () => "00000000-0000-4000-8000-000000000000", getRandomValues: (a) => a })).toBe(
      "00000000-0000-4000-8000-000000000000",
    );
  });

  it("falls back to getRandomValues outside secure contexts", () => {
    const c = { getRandomValues: (a: Uint8Array) => crypto.getRandomValues(a) };
    const ids = new Set(Array.from({ length: 200 }, () => newRequestId(c)));
    expect(ids.size).toBe(200);
    for (const id of ids) expect(id).toMatch(UUID_V4);
    const zeros = newRequestId({ getRandomValues: (a) => a });
    expect(zeros).toBe("00000000-0000-4000-8000-000000000000");
  });
});

describe("isValidRequestId", () => {
  it("bounds the length", () => {
    expect(isValidRequestId("")).toBe(false);
    expect(isValidRequestId("x".repeat(REQUEST_ID_MAX))).toBe(true);
    expect(isValidRequestId("x".repeat(REQUEST_ID_MAX + 1))).toBe(false);
  });
});

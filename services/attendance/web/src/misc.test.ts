import { create } from "@bufbuild/protobuf";
import { AttendanceRecordSchema, FailCode, RecordStatus, Role } from "./gen/attn/v1/common_pb.js";
import { describe, expect, it } from "vitest";
import { normalizeBaseUrl, resolveApiConfig } from "./config.js";
import { fitWithin, MAX_SELFIE_BYTES, selfieProblem, sniffImageType } from "./image.js";
import { describeReason, parseNetworks } from "./records.js";
import { clearSession, homeRouteFor, loadSession, saveSession, STUDENT_CURRENT_KEY, type KeyValueStore } from "./session.js";

describe("resolveApiConfig", () => {
  const origin = "http://localhost:50051";
  it("defaults to the page's origin", () => {
    expect(resolveApiConfig("", undefined, origin)).toEqual({ baseUrl: origin, source: "origin" });
    expect(resolveApiConfig("", "", origin).source).toBe("origin");
  });
  it("takes the build-time value over the origin", () => {
    expect(resolveApiConfig("", "http://localhost:8080/", origin)).toEqual({ baseUrl: "http://localhost:8080", source: "build" });
  });
  it("takes ?api= over everything", () => {
    expect(resolveApiConfig("?api=https%3A%2F%2Fattn.example.edu%2Fgrpc%2F", "http://localhost:8080", origin)).toEqual({
      baseUrl: "https://attn.example.edu/grpc",
      source: "query",
    });
  });
  it("ignores values that are not http(s) URLs", () => {
    expect(resolveApiConfig("?api=javascript:alert(1)", "ftp://x", origin).source).toBe("origin");
    expect(normalizeBaseUrl("not a url")).toBeUndefined();
    expect(normalizeBaseUrl("http://u:p@host")).toBeUndefined();
    expect(normalizeBaseUrl("http://host:8080")).toBe("http://host:8080");
  });
});

describe("describeReason", () => {
  const failed = (failCode: FailCode, failReason: string) =>
    create(AttendanceRecordSchema, { status: RecordStatus.FAILED, failCode, failReason });
  it("explains the server's fail codes", () => {
    expect(describeReason(failed(FailCode.WIFI_FAILED, "WIFI_FAILED"))).toBe("Not on the classroom network.");
    expect(describeReason(failed(FailCode.WIFI_REQUIRED_BUT_IP_MISSING, "x"))).toMatch(/could not be checked/);
    const pending = create(AttendanceRecordSchema, { status: RecordStatus.PENDING, failReason: "FACE_RECOGNITION_PENDING" });
    expect(describeReason(pending)).toMatch(/in progress/);
    const face = FailCode.FACE_VERIFICATION_FAILED;
    expect(describeReason(failed(face, "FACE_VERIFICATION_FAILED: faces differ"))).toBe("Face did not match: faces differ");
    expect(describeReason(failed(face, "FACE_VERIFICATION_FAILED:"))).toBe("Face did not match.");
    expect(describeReason(failed(FailCode.CHECK_IN_CODE_INVALID, "CHECK_IN_CODE_INVALID"))).toMatch(/code shown on the projector now/);
  });
  it("shows the teacher's own words as they are, even when they look like a code", () => {
    expect(describeReason(failed(FailCode.TEACHER_DECISION, "Left early"))).toBe("Left early");
    expect(describeReason(failed(FailCode.TEACHER_DECISION, "WIFI_FAILED: spoof"))).toBe("WIFI_FAILED: spoof");
    expect(describeReason(create(AttendanceRecordSchema, { status: RecordStatus.ATTENDED }))).toBe("");
  });
});

describe("parseNetworks", () => {
  it("splits on commas, spaces and new lines", () => {
    expect(parseNetworks(" 10.0.0.0/8, 192.168.1.0/24\n2001:db8::/64 ;")).toEqual(["10.0.0.0/8", "192.168.1.0/24", "2001:db8::/64"]);
    expect(parseNetworks("  ")).toEqual([]);
  });
});

describe("selfie bytes", () => {
  const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0, 0]);
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0]);
  it("sniffs JPEG and PNG by content", () => {
    expect(sniffImageType(jpeg)).toBe("image/jpeg");
    expect(sniffImageType(png)).toBe("image/png");
    expect(sniffImageType(new TextEncoder().encode("GIF89a"))).toBeUndefined();
  });
  it("refuses empty, wrong-type and oversized photos", () => {
    expect(selfieProblem(jpeg)).toBeUndefined();
    expect(selfieProblem(new Uint8Array())).toMatch(/empty/);
    expect(selfieProblem(new TextEncoder().encode("GIF89a"))).toMatch(/JPEG or PNG/);
    const big = new Uint8Array(MAX_SELFIE_BYTES + 1);
    big.set(jpeg);
    expect(selfieProblem(big)).toMatch(/too large/);
  });
  it("downscales to the longest side", () => {
    expect(fitWithin(4000, 3000, 1024)).toEqual({ width: 1024, height: 768 });
    expect(fitWithin(600, 800, 1024)).toEqual({ width: 600, height: 800 });
  });
});

describe("session storage", () => {
  function memory(): KeyValueStore & { map: Map<string, string> } {
    const map = new Map<string, string>();
    return { map, getItem: (k) => map.get(k) ?? null, setItem: (k, v) => void map.set(k, v), removeItem: (k) => void map.delete(k) };
  }
  const s = { token: "t", schoolNumber: "demo_teacher_1", fullName: "Demo Teacher", role: Role.TEACHER, expiresAt: 2_000 };
  it("round-trips and clears (with the student's remembered session)", () => {
    const m = memory();
    saveSession(s, m);
    expect(loadSession(m, 1_000)).toEqual(s);
    m.setItem(STUDENT_CURRENT_KEY, "{}");
    clearSession(m);
    expect(loadSession(m, 1_000)).toBeUndefined();
    expect(m.map.size).toBe(0);
  });
  it("drops an expired or damaged session", () => {
    const m = memory();
    saveSession(s, m);
    expect(loadSession(m, 3_000)).toBeUndefined();
    m.setItem("attn.session", "{not json");
    expect(loadSession(m)).toBeUndefined();
  });
  it("routes by role", () => {
    expect(homeRouteFor(Role.TEACHER)).toBe("#/teacher");
    expect(homeRouteFor(Role.STUDENT)).toBe("#/student");
    expect(homeRouteFor(Role.ADMIN)).toBe("#/admin");
    expect(homeRouteFor(Role.UNSPECIFIED)).toBe("#/signin");
  });
});

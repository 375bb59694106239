// @vitest-environment happy-dom
// The pages driven through the DOM against an in-memory ATTN (src/testing/fake-attn.ts):
// the same data-testids the Playwright tests will use against the real services.
import { Code, ConnectError } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startApp } from "./app.js";
import { create } from "@bufbuild/protobuf";
import { AttendanceSchema, AttendanceState, FailCode, RecordStatus, SecurityOption } from "./gen/attn/v1/common_pb.js";
import { FakeAttn } from "./testing/fake-attn.js";
import { decodeSvg } from "./testing/qr-decode.js";

let fake: FakeAttn;
let stop: (() => void) | undefined;

const byId = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.querySelector<T>(`[data-testid="${id}"]`);
  if (!el) throw new Error(`no element with data-testid=${id}`);
  return el;
};
const maybe = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const visible = (id: string) => {
  const el = maybe(id);
  return !!el && !el.closest("[hidden]");
};
const until = (fn: () => unknown, timeout = 3000) =>
  vi.waitFor(() => {
    if (!fn()) throw new Error(`still waiting for ${fn.toString()} (error banner: ${JSON.stringify(errorText())})`);
  }, { timeout, interval: 10 });

function type(id: string, value: string) {
  const el = byId<HTMLInputElement>(id);
  el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
}

function start(recheckMs = 50) {
  document.body.innerHTML = '<div id="app"></div>';
  stop = startApp(document.getElementById("app")!, { baseUrl: "http://attn.test", source: "origin" }, fake.transport, {
    recheckMs,
  });
}

async function signIn(username: string, password = "password") {
  await until(() => visible("signin-username"));
  type("signin-username", username);
  type("signin-password", password);
  byId("signin-submit").click();
}

function errorText() {
  return visible("error-banner") ? byId("error-text").textContent : "";
}

beforeEach(() => {
  sessionStorage.clear();
  history.replaceState(null, "", "/");
  fake = new FakeAttn();
});

afterEach(() => {
  stop?.();
  stop = undefined;
});

describe("sign-in", () => {
  it("shows a clear message for a wrong password", async () => {
    start();
    await signIn("demo_teacher_1", "nope");
    await until(() => errorText());
    expect(errorText()).toBe("Wrong school number or password.");
    expect(byId("error-banner").dataset["code"]).toBe("UNAUTHENTICATED");
    expect(sessionStorage.getItem("attn.session")).toBeNull();
  });

  it("routes a student to the student page and keeps the token for the tab", async () => {
    start();
    await signIn("demo_student_7");
    await until(() => visible("student-page"));
    expect(location.hash).toBe("#/student");
    expect(byId("current-user").textContent).toContain("demo_student_7");
    expect(JSON.parse(sessionStorage.getItem("attn.session")!).token).toMatch(/^tok-demo_student_7/);
  });

  it("a signed-in user cannot open the other role's page", async () => {
    start();
    await signIn("demo_student_1");
    await until(() => visible("student-page"));
    location.hash = "#/teacher";
    await until(() => visible("student-page") && location.hash === "#/student");
  });
});

describe("teacher page", () => {
  it("starts a session, fills the roster live, accepts and fails, finishes", async () => {
    start();
    await signIn("demo_teacher_1");
    await until(() => visible("start-submit"));
    expect(location.hash).toBe("#/teacher");

    // Bad input: the server's INVALID_ARGUMENT names the field (blanks pass the form's `required`).
    type("start-lesson", "   ");
    byId("start-submit").click();
    await until(() => errorText());
    expect(errorText()).toBe("Please check your input: Lesson name: is required.");

    type("start-lesson", "CS101 Lecture 4");
    type("start-duration", "45");
    byId<HTMLSelectElement>("start-security").value = String(SecurityOption.NETWORK);
    type("start-networks", "10.1.0.0/16, 10.2.0.0/16");
    byId("start-submit").click();
    await until(() => byId("stream-status").dataset["state"] === "live");
    expect(byId("session-lesson").textContent).toBe("CS101 Lecture 4");
    expect(byId("session-state").dataset["state"]).toBe("active");
    expect(byId("session-security").dataset["option"]).toBe("2");
    expect(byId("session-networks").textContent).toBe("10.1.0.0/16, 10.2.0.0/16");
    expect(visible("roster-empty")).toBe(true);
    expect(fake.authHeaders.every((h) => /^Bearer tok-demo_teacher_1-/.test(h))).toBe(true);

    const id = byId("session-id").textContent!;
    fake.attendAs(id, "demo_student_2");
    fake.attendAs(id, "demo_student_10");
    await until(() => maybe("roster-row-demo_student_10"));
    expect(byId("roster-status-demo_student_2").dataset["status"]).toBe("ATTENDED");
    expect(byId("count-attended").textContent).toBe("2");
    expect(byId("count-total").textContent).toBe("2");
    const order = [...document.querySelectorAll<HTMLElement>("[data-testid^=roster-row-]")].map((r) => r.dataset["studentNumber"]);
    expect(order).toEqual(["demo_student_2", "demo_student_10"]);
    expect(visible("roster-empty")).toBe(false);
    expect(byId<HTMLButtonElement>("accept-demo_student_2").disabled).toBe(true);

    // Fail one, with a reason.
    byId("fail-demo_student_2").click();
    expect(visible("fail-reason-demo_student_2")).toBe(true);
    type("fail-reason-demo_student_2", "Left after ten minutes");
    byId("fail-confirm-demo_student_2").click();
    await until(() => byId("roster-status-demo_student_2").dataset["status"] === "FAILED");
    expect(byId("roster-reason-demo_student_2").textContent).toBe("Left after ten minutes");
    expect(byId("count-failed").textContent).toBe("1");
    expect(byId("count-attended").textContent).toBe("1");
    expect(fake.records.get(id)!.get("demo_student_2")!.failReason).toBe("Left after ten minutes");

    // And accept them back.
    byId("accept-demo_student_2").click();
    await until(() => byId("roster-status-demo_student_2").dataset["status"] === "ATTENDED");
    expect(byId("count-failed").textContent).toBe("0");

    // The record's history: who changed it, how and why, oldest first.
    byId("history-demo_student_2").click();
    await until(() => visible("history-list-demo_student_2"));
    const history = [...byId("history-list-demo_student_2").querySelectorAll("li")].map((li) => li.textContent);
    expect(history).toHaveLength(2);
    expect(history[0]).toContain("Failed (Attended → Failed) by demo_teacher_1 — Left after ten minutes");
    expect(history[1]).toContain("Accepted (Failed → Attended) by demo_teacher_1");
    byId("history-demo_student_2").click();
    expect(visible("history-list-demo_student_2")).toBe(false);

    // A change made elsewhere arrives through the stream.
    fake.setRecord(id, "demo_student_10", { isAttended: false, failReason: "WIFI_FAILED", failCode: 1, status: 3 });
    await until(() => byId("roster-status-demo_student_10").dataset["status"] === "FAILED");
    expect(byId("roster-reason-demo_student_10").textContent).toBe("Not on the classroom network.");

    byId("finish-session").click();
    await until(() => byId("session-state").dataset["state"] === "finished");
    expect(visible("finish-session")).toBe(false);
    expect(visible("new-session")).toBe(true);
  });

  it("reconnects a dropped roster stream and re-renders from the new snapshot", async () => {
    start();
    await signIn("demo_teacher_2");
    await until(() => visible("start-submit"));
    type("start-lesson", "Physics");
    byId("start-submit").click();
    await until(() => byId("stream-status").dataset["state"] === "live");
    const id = byId("session-id").textContent!;
    fake.attendAs(id, "demo_student_1");
    await until(() => maybe("roster-row-demo_student_1"));

    fake.dropRosterStreams();
    await until(() => byId("stream-status").dataset["state"] === "retrying");
    expect(byId("stream-status").textContent).toMatch(/retrying in \d s/);
    // Changes made while the stream was down come back with the next snapshot.
    fake.attendAs(id, "demo_student_3");
    await until(() => byId("stream-status").dataset["state"] === "live", 5000);
    await until(() => maybe("roster-row-demo_student_3"));
    expect(byId("count-total").textContent).toBe("2");
    expect(fake.openRosterStreams).toBe(1);
  });

  it("picks up the teacher's live session after a reload", async () => {
    start();
    await signIn("demo_teacher_3");
    await until(() => visible("start-submit"));
    type("start-lesson", "Maths");
    byId("start-submit").click();
    await until(() => visible("live-session"));
    stop!();
    start(); // same tab: the token is still in sessionStorage
    await until(() => byId("stream-status")?.dataset["state"] === "live");
    expect(byId("session-lesson").textContent).toBe("Maths");
  });

  it("sends the user back to sign in when the token is no longer valid", async () => {
    start();
    await signIn("demo_teacher_4");
    await until(() => visible("start-submit"));
    fake.revokeAll();
    type("start-lesson", "History");
    byId("start-submit").click();
    await until(() => visible("signin-page"));
    expect(errorText()).toMatch(/^You are not signed in or your session has expired\. Please sign in again\./);
    expect(location.hash).toBe("#/signin");
    expect(sessionStorage.getItem("attn.session")).toBeNull();
  });

  it("shows a clear message for every status the server sends", async () => {
    start();
    await signIn("demo_teacher_5");
    await until(() => visible("start-submit"));
    type("start-lesson", "Biology");
    fake.failNext.set("startAttendance", new ConnectError("slow down", Code.ResourceExhausted));
    byId("start-submit").click();
    await until(() => errorText());
    expect(errorText()).toBe("Too many requests. Please wait a moment and try again. (slow down.)");
    expect(byId("error-banner").dataset["code"]).toBe("RESOURCE_EXHAUSTED");
    byId("error-dismiss").click();
    expect(visible("error-banner")).toBe(false);
  });

  it("signs out with the Logout RPC", async () => {
    start();
    await signIn("demo_teacher_6");
    await until(() => visible("start-submit"));
    byId("signout").click();
    await until(() => visible("signin-page"));
    expect(fake.calls).toContain("Logout");
    expect(sessionStorage.getItem("attn.session")).toBeNull();
    expect(byId("info-banner").textContent).toBe("You are signed out.");
  });
});

describe("student page", () => {
  async function teacherSession(lesson: string, option = SecurityOption.MANUAL) {
    const token = fake.tokenFor("demo_teacher_9");
    // Start it the way the app would, straight through the fake's own transport.
    const { createApi } = await import("./api.js");
    const api = createApi("http://attn.test", () => token, fake.transport);
    const res = await api.teacher.startAttendance({ lessonName: lesson, securityOption: option, ends: { case: "duration", value: { seconds: 3600n } } });
    return res.attendance!.attendanceId;
  }

  it("finds a session, attends and shows the status", async () => {
    const id = await teacherSession("Chemistry 2");
    start();
    await signIn("demo_student_4");
    await until(() => visible("search-submit"));
    type("search-lesson", "chem");
    type("search-teacher", "teacher 9");
    byId("search-submit").click();
    await until(() => maybe("search-result"));
    const row = byId("search-result");
    expect(row.dataset["attendanceId"]).toBe(id);
    expect(row.dataset["lesson"]).toBe("Chemistry 2");
    row.querySelector<HTMLElement>("[data-testid=attend-button]")!.click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
    expect(byId("my-lesson").textContent).toBe("Chemistry 2");
    await until(() => byId("my-watch-status").dataset["state"] === "waiting");
    expect(byId("my-watch-status").textContent).toMatch(/Up to date/);
    expect(fake.records.get(id)!.get("demo_student_4")!.isAttended).toBe(true);

    // Attending twice: ALREADY_EXISTS, shown clearly.
    row.querySelector<HTMLElement>("[data-testid=attend-button]")!.click();
    await until(() => errorText());
    expect(errorText()).toMatch(/^Already done: nothing was changed\. \(you have already checked in/);

    // The teacher fails them afterwards: the page shows it without a reload.
    fake.setRecord(id, "demo_student_4", { isAttended: false, failReason: "Not in the room", failCode: 8, status: 3 });
    await until(() => byId("my-status").dataset["status"] === "FAILED");
    expect(byId("my-reason").textContent).toBe("Not in the room");
    expect(visible("attend-retry")).toBe(true);

    // An earlier failed attempt may be retried, with a fresh request_id.
    byId("attend-retry").click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
    expect(fake.requestIds).toHaveLength(3);
    expect(new Set(fake.requestIds).size).toBe(3);

  });

  it("looks again at a final record only when the student comes back or asks, not every few seconds", async () => {
    const id = await teacherSession("Geology");
    start(3_600_000);
    await signIn("demo_student_9");
    await until(() => visible("search-submit"));
    type("search-lesson", "geology");
    byId("search-submit").click();
    await until(() => maybe("search-result"));
    byId("attend-button").click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
    await until(() => byId("my-watch-status").dataset["state"] === "waiting");
    const watches = () => fake.calls.filter((c) => c === "WatchMyRecord").length;
    const opened = watches();

    // The teacher fails them: nothing polls, so the page still shows attended...
    fake.setRecord(id, "demo_student_9", { isAttended: false, failReason: "Not in the room", failCode: 8, status: 3 });
    await new Promise((r) => setTimeout(r, 100));
    expect(byId("my-status").dataset["status"]).toBe("ATTENDED");
    expect(watches()).toBe(opened);

    // ...until the student comes back to the page,
    window.dispatchEvent(new Event("focus"));
    await until(() => byId("my-status").dataset["status"] === "FAILED");
    expect(watches()).toBe(opened + 1);

    // or presses "Check again".
    await until(() => byId("my-watch-status").dataset["state"] === "waiting");
    fake.setRecord(id, "demo_student_9", { isAttended: true, failReason: "", status: 1 });
    byId("my-refresh").click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
    expect(watches()).toBe(opened + 2);
  });

  it("says so when nothing matches", async () => {
    start();
    await signIn("demo_student_5");
    await until(() => visible("search-submit"));
    type("search-lesson", "nothing like this");
    byId("search-submit").click();
    await until(() => visible("search-empty"));
  });

  it("asks for a selfie for option 3, sends it, and follows the pending face check", async () => {
    const id = await teacherSession("Anatomy", SecurityOption.NETWORK_AND_FACE);
    start();
    await signIn("demo_student_6");
    await until(() => visible("search-submit"));
    type("search-lesson", "anatomy");
    byId("search-submit").click();
    await until(() => maybe("search-result"));
    byId("attend-button").click();
    await until(() => visible("selfie-panel"));
    const file = byId<HTMLInputElement>("selfie-file");
    expect(file.getAttribute("accept")).toBe("image/jpeg,image/png");
    expect(byId<HTMLButtonElement>("attend-submit").disabled).toBe(true);

    // Not an image: refused before it is sent.
    Object.defineProperty(file, "files", { configurable: true, value: [new File(["GIF89a"], "x.gif", { type: "image/gif" })] });
    file.dispatchEvent(new Event("change"));
    await until(() => errorText());
    expect(errorText()).toBe("The photo must be a JPEG or PNG image.");
    expect(byId<HTMLButtonElement>("attend-submit").disabled).toBe(true);

    // A JPEG: sent as Attend.selfie.
    const jpeg = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3]);
    Object.defineProperty(file, "files", { configurable: true, value: [new File([jpeg], "me.jpg", { type: "image/jpeg" })] });
    file.dispatchEvent(new Event("change"));
    await until(() => !byId<HTMLButtonElement>("attend-submit").disabled);
    byId("attend-submit").click();
    await until(() => byId("my-status").dataset["status"] === "PENDING");
    expect(maybe("selfie-panel")).toBeNull();
    expect(byId("my-reason").textContent).toBe("Face check in progress…");
    await until(() => byId("my-watch-status").dataset["state"] === "live");

    fake.setRecord(id, "demo_student_6", { isAttended: true, failReason: "", status: 1 });
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
    await until(() => byId("my-watch-status").dataset["state"] === "waiting");
    expect(fake.selfies.get("demo_student_6")).toEqual(jpeg);
  });

  it("shows a pending record turning into attended without a reload", async () => {
    const id = await teacherSession("Optics", SecurityOption.NETWORK_AND_FACE);
    fake.attendAs(id, "demo_student_8", new Uint8Array([0xff, 0xd8, 0xff]));
    sessionStorage.setItem("attn.student.current", JSON.stringify({ attendanceId: id, lessonName: "Optics", securityOption: 3 }));
    start();
    await signIn("demo_student_8");
    await until(() => byId("my-status").dataset["status"] === "PENDING");
    expect(byId("my-reason").textContent).toBe("Face check in progress…");
    fake.setRecord(id, "demo_student_8", { isAttended: false, failReason: "FACE_VERIFICATION_FAILED: faces differ", failCode: 6, status: 3 });
    await until(() => byId("my-status").dataset["status"] === "FAILED");
    expect(byId("my-reason").textContent).toBe("Face did not match: faces differ");
    expect(visible("attend-retry")).toBe(true);
    await until(() => byId("my-watch-status").dataset["state"] === "waiting");
  });
});

describe("the rotating check-in code", () => {
  it("shows the teacher the code and its check-in link when the session asks for one", async () => {
    start();
    await signIn("demo_teacher_1");
    await until(() => visible("start-form"));
    type("start-lesson", "Optics");
    byId<HTMLInputElement>("start-require-code").checked = true;
    type("start-code-period", "30");
    byId("start-submit").click();
    await until(() => visible("check-in-code-panel") && byId("check-in-code").dataset["code"]);
    const [a] = [...fake.attendances.values()];
    expect(a!.requireCheckInCode).toBe(true);
    expect(a!.checkInCodePeriod?.seconds).toBe(30n);
    expect(byId("check-in-code").dataset["code"]).toBe("012345");
    expect(byId("check-in-code").textContent).toBe("012 345");
    expect(byId<HTMLAnchorElement>("check-in-code-link").href).toContain(`?attendance=${a!.attendanceId}&code=012345`);
    expect(byId("check-in-code-countdown").textContent).toMatch(/Next code in \d+ s/);
  });

  it("draws the check-in link's QR, redraws it when the code rotates, and fills the screen in the projector view", async () => {
    start();
    await signIn("demo_teacher_1");
    await until(() => visible("start-form"));
    type("start-lesson", "Optics");
    byId<HTMLInputElement>("start-require-code").checked = true;
    byId("start-submit").click();
    await until(() => byId("check-in-code").dataset["code"] === "012345");
    const [a] = [...fake.attendances.values()];
    const qr = document.querySelector<SVGSVGElement>('[data-testid="check-in-qr"]')!;
    const first = `http://localhost:3000/?attendance=${a!.attendanceId}&code=012345`;
    expect(byId<HTMLAnchorElement>("check-in-code-link").href).toBe(first);
    expect(qr.dataset["payload"]).toBe(first);
    expect(decodeSvg(qr)).toBe(first);
    const firstPath = qr.querySelector("path")!.getAttribute("d");

    fake.rotateCheckInCode("654321");
    await until(() => byId("check-in-code").dataset["code"] === "654321");
    const second = first.replace("012345", "654321");
    expect(byId("check-in-code").textContent).toBe("654 321");
    expect(qr.dataset["payload"]).toBe(second);
    expect(qr.querySelector("path")!.getAttribute("d")).not.toBe(firstPath);
    expect(decodeSvg(qr)).toBe(second);

    // The projector view: on and off with its buttons or Escape.
    expect(visible("check-in-code-projector-close")).toBe(false);
    byId("check-in-code-projector").click();
    expect(byId("check-in-code-panel").classList.contains("projector")).toBe(true);
    expect(visible("check-in-code-projector-close")).toBe(true);
    expect(visible("check-in-code-projector")).toBe(false);
    expect(byId("check-in-code-title").textContent).toBe("Check in to “Optics”");
    document.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    expect(byId("check-in-code-panel").classList.contains("projector")).toBe(false);
    byId("check-in-code-projector").click();
    byId("check-in-code-projector-close").click();
    expect(byId("check-in-code-panel").dataset["projector"]).toBe("false");

    // A code that arrives while the projector shows keeps it current; the end of the session closes it.
    byId("check-in-code-projector").click();
    fake.rotateCheckInCode("111222");
    await until(() => qr.dataset["payload"] === first.replace("012345", "111222"));
    byId("finish-session").click();
    await until(() => !visible("check-in-code-panel"));
    expect(byId("check-in-code-panel").classList.contains("projector")).toBe(false);
  });

  it("hides the code panel for a session without one", async () => {
    start();
    await signIn("demo_teacher_1");
    await until(() => visible("start-form"));
    type("start-lesson", "Statics");
    byId("start-submit").click();
    await until(() => visible("live-session"));
    expect(visible("check-in-code-panel")).toBe(false);
  });

  it("opens a check-in link with the session and code filled in, and checks the student in", async () => {
    const teacher = fake.user("demo_teacher_1")!;
    fake.attendances.set("s-1", create(AttendanceSchema, {
      attendanceId: "s-1", lessonName: "Optics", teacherSchoolNumber: teacher.schoolNumber, teacherFullName: teacher.fullName,
      securityOption: SecurityOption.MANUAL, state: AttendanceState.OPEN, requireCheckInCode: true,
    }));
    fake.records.set("s-1", new Map());
    history.replaceState(null, "", "/?attendance=s-1&code=012345");
    start();
    await signIn("demo_student_3");
    await until(() => visible("check-in-code-input"));
    expect(byId<HTMLInputElement>("check-in-code-input").value).toBe("012345");
    expect(location.search).toBe("");
    byId("attend-submit").click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
    expect(fake.records.get("s-1")!.get("demo_student_3")?.status).toBe(RecordStatus.ATTENDED);
  });

  it("asks for the code found by search, shows a wrong code's failed record, and keeps the code field to retry", async () => {
    const teacher = fake.user("demo_teacher_1")!;
    fake.attendances.set("s-2", create(AttendanceSchema, {
      attendanceId: "s-2", lessonName: "Optics", teacherSchoolNumber: teacher.schoolNumber, teacherFullName: teacher.fullName,
      securityOption: SecurityOption.MANUAL, state: AttendanceState.OPEN, requireCheckInCode: true,
    }));
    fake.records.set("s-2", new Map());
    start();
    await signIn("demo_student_4");
    await until(() => visible("search-form"));
    type("search-lesson", "Optics");
    byId("search-submit").click();
    await until(() => visible("attend-button"));
    byId("attend-button").click();
    await until(() => visible("check-in-code-input"));
    type("check-in-code-input", "999999");
    byId("attend-submit").click();
    await until(() => byId("my-status").dataset["status"] === "FAILED");
    expect(byId("my-reason").textContent).toContain("Enter the code shown on the projector now");
    expect(fake.records.get("s-2")!.get("demo_student_4")?.failCode).toBe(FailCode.CHECK_IN_CODE_INVALID);
    expect(visible("check-in-code-input")).toBe(true);
    type("check-in-code-input", "012 345");
    byId("attend-submit").click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
  });
});

describe("scanning the projector's QR", () => {
  const here = "http://localhost:3000";

  /** A back camera and a BarcodeDetector that sees `frames`, one look each (then nothing). */
  function fakeScanner(frames: string[][], { formats = ["ean_13", "qr_code"], deny = false } = {}) {
    const tracks = [{ kind: "video", stop: vi.fn() }];
    // happy-dom's own MediaStream (a video element takes nothing else), with tracks that record stop().
    const stream = Object.assign(new MediaStream(), { getTracks: () => tracks, getVideoTracks: () => tracks });
    const getUserMedia = vi.fn(async (_constraints: MediaStreamConstraints) => {
      if (deny) throw new DOMException("denied", "NotAllowedError");
      return stream;
    });
    const detectors: { formats: string[] }[] = [];
    class FakeBarcodeDetector {
      constructor(options: { formats: string[] }) {
        detectors.push(options);
      }
      static getSupportedFormats = async () => formats;
      async detect(source: unknown) {
        if (!(source instanceof HTMLVideoElement)) throw new TypeError("not the camera's video");
        return (frames.shift() ?? []).map((rawValue) => ({ rawValue, format: "qr_code" }));
      }
    }
    Object.defineProperty(navigator, "mediaDevices", { configurable: true, value: { getUserMedia } });
    Object.defineProperty(window, "BarcodeDetector", { configurable: true, writable: true, value: FakeBarcodeDetector });
    return { tracks, getUserMedia, detectors };
  }

  function openSession(id: string) {
    const teacher = fake.user("demo_teacher_1")!;
    fake.attendances.set(id, create(AttendanceSchema, {
      attendanceId: id, lessonName: "Optics", teacherSchoolNumber: teacher.schoolNumber, teacherFullName: teacher.fullName,
      securityOption: SecurityOption.MANUAL, state: AttendanceState.OPEN, requireCheckInCode: true,
    }));
    fake.records.set(id, new Map());
  }

  afterEach(() => {
    delete (window as { BarcodeDetector?: unknown }).BarcodeDetector;
    delete (navigator as { mediaDevices?: unknown }).mediaDevices;
  });

  it("reads the check-in link off the back camera, fills the session and code as the link does, and stops the camera", async () => {
    openSession("s-3");
    const cam = fakeScanner([[], [], [`${here}/?attendance=s-3&code=012345`]]);
    start();
    await signIn("demo_student_5");
    await until(() => visible("scan-qr"));
    expect(visible("scan-unavailable")).toBe(false);
    byId("scan-qr").click();
    await until(() => visible("scan-video"));
    await until(() => visible("check-in-code-input"));
    expect(cam.getUserMedia).toHaveBeenCalledWith({ video: { facingMode: "environment" }, audio: false });
    expect(cam.detectors).toEqual([{ formats: ["qr_code"] }]);
    expect(cam.tracks[0]!.stop).toHaveBeenCalled();
    expect(maybe("scan-panel")).toBeNull();
    expect(byId<HTMLInputElement>("check-in-code-input").value).toBe("012345");
    expect(byId("attend-panel").textContent).toContain("the session on the projector");
    expect(location.href).toBe(`${here}/#/student`);
    byId("attend-submit").click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
    expect(fake.records.get("s-3")!.get("demo_student_5")?.status).toBe(RecordStatus.ATTENDED);
  });

  it("offers scanning beside the code field of a session found by search", async () => {
    openSession("s-6");
    const cam = fakeScanner([[`${here}/index.html?attendance=s-6&code=012345`]]);
    start();
    await signIn("demo_student_11");
    await until(() => visible("scan-qr"));
    type("search-lesson", "Optics");
    byId("search-submit").click();
    await until(() => visible("attend-button"));
    byId("attend-button").click();
    await until(() => visible("attend-scan"));
    expect(byId<HTMLInputElement>("check-in-code-input").value).toBe("");
    byId("attend-scan").click();
    await until(() => byId<HTMLInputElement>("check-in-code-input")?.value === "012345");
    expect(cam.tracks[0]!.stop).toHaveBeenCalled();
    // A session the search found keeps its name (and security option).
    expect(byId("attend-panel").textContent).toContain("Check in to “Optics”");
    byId("attend-submit").click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
  });

  it("keeps the selfie panel of an option-3 session found by search when its QR is scanned", async () => {
    openSession("s-7");
    fake.attendances.get("s-7")!.securityOption = SecurityOption.NETWORK_AND_FACE;
    fakeScanner([[`${here}/?attendance=s-7&code=012345`]]);
    start();
    await signIn("demo_student_12");
    await until(() => visible("scan-qr"));
    type("search-lesson", "Optics");
    byId("search-submit").click();
    await until(() => visible("attend-button"));
    byId("scan-qr").click();
    await until(() => byId<HTMLInputElement>("check-in-code-input")?.value === "012345");
    expect(visible("selfie-panel")).toBe(true);
    expect(byId<HTMLButtonElement>("attend-submit").disabled).toBe(true);
  });

  it("refuses a QR code pointing to another site with a clear message, and never goes there", async () => {
    openSession("s-4");
    const cam = fakeScanner([["https://attn-login.evil.test/?attendance=s-4&code=012345"]]);
    start();
    await signIn("demo_student_6");
    await until(() => visible("scan-qr"));
    byId("scan-qr").click();
    await until(() => errorText());
    expect(errorText()).toBe(
      "That QR code points to attn-login.evil.test/, not to this ATTN site (localhost:3000): it was not opened. Scan the code on your teacher's projector, or type the six digits.",
    );
    expect(byId("error-banner").dataset["code"]).toBe("QR_REFUSED");
    expect(location.href).toBe(`${here}/#/student`);
    expect(maybe("check-in-code-input")).toBeNull();
    expect(maybe("scan-panel")).toBeNull();
    expect(cam.tracks[0]!.stop).toHaveBeenCalled();
    expect(fake.records.get("s-4")!.size).toBe(0);
    // Scanning again is one click away.
    expect(visible("scan-qr")).toBe(true);
    expect(byId<HTMLButtonElement>("scan-qr").disabled).toBe(false);
  });

  it("stops the camera when the student cancels", async () => {
    const cam = fakeScanner([]);
    start();
    await signIn("demo_student_7");
    await until(() => visible("scan-qr"));
    byId("scan-qr").click();
    await until(() => visible("scan-cancel") && cam.getUserMedia.mock.calls.length > 0 && byId("scan-hint").textContent!.startsWith("Point"));
    byId("scan-cancel").click();
    expect(cam.tracks[0]!.stop).toHaveBeenCalled();
    expect(maybe("scan-panel")).toBeNull();
    expect(byId<HTMLButtonElement>("scan-qr").disabled).toBe(false);
  });

  it("says so when the camera is refused, and leaves typing the code", async () => {
    fakeScanner([], { deny: true });
    start();
    await signIn("demo_student_8");
    await until(() => visible("scan-qr"));
    byId("scan-qr").click();
    await until(() => errorText());
    expect(errorText()).toBe("Camera not available (permission was refused). Type the six digits from the projector instead.");
    expect(maybe("scan-panel")).toBeNull();
  });

  it("offers no scanning without a BarcodeDetector that reads QR codes; the typed code still works", async () => {
    openSession("s-5");
    fakeScanner([], { formats: ["ean_13"] });
    start();
    await signIn("demo_student_9");
    await until(() => visible("scan-unavailable"));
    expect(visible("scan-qr")).toBe(false);
    expect(byId("scan-unavailable").textContent).toBe("This browser cannot scan QR codes: type the six digits from the projector instead.");
    stop?.();

    delete (window as { BarcodeDetector?: unknown }).BarcodeDetector;
    expect("BarcodeDetector" in window).toBe(false);
    start();
    await until(() => visible("scan-unavailable"));
    expect(visible("scan-qr")).toBe(false);
    type("search-lesson", "Optics");
    byId("search-submit").click();
    await until(() => visible("attend-button"));
    byId("attend-button").click();
    await until(() => visible("check-in-code-input"));
    type("check-in-code-input", "012345");
    byId("attend-submit").click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");
  });
});

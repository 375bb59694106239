// @vitest-environment happy-dom
// A course session on the teacher's page: started from the start form's
// course list with the browser's time zone, the enrolled students who have
// not checked in listed and counted (absent once the end time passes while
// the page is open), a check-in replacing its line live, and the Excuse
// action; an excused student's page says why Attend is refused.
import { create } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startApp } from "./app.js";
import { CourseSchema } from "./gen/attn/v1/teacher_pb.js";
import { FakeAttn } from "./testing/fake-attn.js";

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
const errorText = () => (visible("error-banner") ? byId("error-text").textContent : "");
const until = (fn: () => unknown, timeout = 3000) =>
  vi.waitFor(() => {
    if (!fn()) throw new Error(`still waiting for ${fn.toString()} (error banner: ${JSON.stringify(errorText())})`);
  }, { timeout, interval: 10 });
const status = (sn: string) => maybe(`roster-status-${sn}`)?.dataset["status"];
const count = (what: string) => byId(`count-${what}`).textContent;

function type(id: string, value: string) {
  const el = byId<HTMLInputElement>(id);
  el.value = value;
  el.dispatchEvent(new Event("input", { bubbles: true }));
}

async function signInAs(username: string) {
  document.body.innerHTML = '<div id="app"></div>';
  stop = startApp(document.getElementById("app")!, { baseUrl: "http://attn.test", source: "origin" }, fake.transport, { recheckMs: 50 });
  await until(() => visible("signin-username"));
  type("signin-username", username);
  type("signin-password", "password");
  byId("signin-submit").click();
}

/** Signs the teacher in and starts a CS101 session from the start form; returns its id. */
async function startCourseSession(lesson = ""): Promise<string> {
  await signInAs("demo_teacher_1");
  await until(() => visible("start-course-fields"));
  await until(() => byId<HTMLSelectElement>("start-course").options.length === 2);
  const select = byId<HTMLSelectElement>("start-course");
  select.value = "CS101";
  select.dispatchEvent(new Event("change"));
  expect(byId<HTMLInputElement>("start-lesson").required).toBe(false);
  type("start-lesson", lesson);
  byId("start-submit").click();
  await until(() => byId("stream-status").dataset["state"] === "live");
  return byId("session-id").textContent!;
}

beforeEach(() => {
  sessionStorage.clear();
  history.replaceState(null, "", "/");
  fake = new FakeAttn();
  fake.courses = [create(CourseSchema, { courseCode: "CS101", displayName: "Intro to CS", enrolledCount: 3 })];
  fake.enrolled.set("CS101", ["demo_student_1", "demo_student_2", "demo_student_3"]);
});

afterEach(() => {
  stop?.();
  stop = undefined;
  vi.restoreAllMocks();
});

describe("starting a session", () => {
  it("sends the browser's time zone, and shows it", async () => {
    await signInAs("demo_teacher_2");
    await until(() => visible("start-submit"));
    type("start-lesson", "Plain lesson");
    byId("start-submit").click();
    await until(() => visible("live-session"));
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    expect(zone).toBeTruthy();
    expect(fake.startRequests).toHaveLength(1);
    expect(fake.startRequests[0]!.timeZone).toBe(zone);
    expect(fake.startRequests[0]!.courseCode).toBe("");
    expect(byId("session-time-zone").textContent).toBe(zone);
    expect(maybe("session-course")).toBeNull();
  });

  it("hides the course field for a teacher without courses", async () => {
    fake.courses = [];
    await signInAs("demo_teacher_3");
    await until(() => visible("start-submit"));
    await until(() => fake.calls.includes("ListCourses"));
    expect(visible("start-course-fields")).toBe(false);
    // One ListCourses answer serves the start form and the courses card.
    expect(fake.calls.filter((c) => c === "ListCourses")).toHaveLength(1);
  });

  it("starts a course session from the course list with the time zone, the lesson named after the course", async () => {
    await startCourseSession();
    const req = fake.startRequests[0]!;
    expect(req.courseCode).toBe("CS101");
    expect(req.allowWalkIns).toBe(false);
    expect(req.timeZone).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    expect(byId("session-lesson").textContent).toBe("Intro to CS");
    expect(byId("session-course").textContent).toBe("CS101");
  });
});

describe("a course session's roster", () => {
  it("lists and counts the enrolled students who have not checked in, and a check-in replaces the line live", async () => {
    const id = await startCourseSession("CS101 week 1");
    await until(() => maybe("roster-row-demo_student_3"));
    for (const sn of ["demo_student_1", "demo_student_2", "demo_student_3"]) {
      expect(status(sn)).toBe("NOT_CHECKED_IN");
      expect(byId(`roster-row-${sn}`).classList.contains("not-checked-in")).toBe(true);
      expect(byId(`roster-status-${sn}`).className).toBe("status not-checked-in");
      expect(byId(`roster-status-${sn}`).textContent).toBe("Not checked in");
    }
    expect(count("not-checked-in")).toBe("3");
    expect(byId("count-not-checked-in-label").textContent).toBe("Not checked in");
    expect(count("attended")).toBe("0");
    expect(count("total")).toBe("3");
    expect(visible("roster-empty")).toBe(false);

    // A student checks in: the record event replaces their line (keyed by student number).
    fake.attendAs(id, "demo_student_2");
    await until(() => status("demo_student_2") === "ATTENDED");
    expect(document.querySelectorAll("[data-testid^=roster-row-]")).toHaveLength(3);
    expect(count("attended")).toBe("1");
    expect(count("not-checked-in")).toBe("2");
    expect(byId("roster-row-demo_student_2").classList.contains("attended")).toBe(true);
  });

  it("excuses a student with a reason, counts them apart, and accept and fail work on not-checked-in lines", async () => {
    const id = await startCourseSession();
    await until(() => maybe("roster-row-demo_student_1"));

    // An excuse needs a reason.
    byId("excuse-demo_student_1").click();
    expect(visible("excuse-form-demo_student_1")).toBe(true);
    byId("excuse-confirm-demo_student_1").click();
    await until(() => errorText());
    expect(byId("error-banner").dataset["code"]).toBe("INVALID_ARGUMENT");
    expect(fake.calls).not.toContain("ExcuseStudent");

    type("excuse-reason-demo_student_1", "Doctor's note");
    byId("excuse-confirm-demo_student_1").click();
    await until(() => status("demo_student_1") === "EXCUSED");
    expect(byId("roster-status-demo_student_1").textContent).toBe("Excused");
    expect(byId("roster-reason-demo_student_1").textContent).toBe("Excused: Doctor's note");
    expect(byId("roster-row-demo_student_1").classList.contains("excused")).toBe(true);
    expect(visible("excuse-form-demo_student_1")).toBe(false);
    expect(byId<HTMLButtonElement>("excuse-demo_student_1").disabled).toBe(true);
    expect(count("excused")).toBe("1");
    expect(count("not-checked-in")).toBe("2");
    expect(fake.records.get(id)!.get("demo_student_1")!.excuseReason).toBe("Doctor's note");

    // Its history says who excused them and why.
    byId("history-demo_student_1").click();
    await until(() => visible("history-list-demo_student_1"));
    expect(byId("history-list-demo_student_1").textContent).toContain("Excused (→ Excused) by demo_teacher_1 — Doctor's note");

    // Accept a student who has not checked in (no record yet).
    expect(byId<HTMLButtonElement>("accept-demo_student_2").disabled).toBe(false);
    byId("accept-demo_student_2").click();
    await until(() => status("demo_student_2") === "ATTENDED");

    // Fail another.
    byId("fail-demo_student_3").click();
    type("fail-reason-demo_student_3", "Not in the room");
    byId("fail-confirm-demo_student_3").click();
    await until(() => status("demo_student_3") === "FAILED");
    expect(count("not-checked-in")).toBe("0");
    expect(count("attended")).toBe("1");
    expect(count("failed")).toBe("1");
    expect(count("excused")).toBe("1");
    expect(count("total")).toBe("3");

    // And an excused student can still be accepted.
    byId("accept-demo_student_1").click();
    await until(() => status("demo_student_1") === "ATTENDED");
    expect(count("excused")).toBe("0");
    expect(byId("roster-reason-demo_student_1").textContent).toBe("");
  });

  it("shows not-checked-in lines as absent once the end time passes while the page is open", async () => {
    const id = await startCourseSession();
    await until(() => maybe("roster-row-demo_student_3"));
    fake.attendAs(id, "demo_student_1");
    await until(() => status("demo_student_1") === "ATTENDED");
    expect(byId("session-state").dataset["state"]).toBe("active");

    // The end time comes near (the session stays OPEN on the wire) and passes.
    fake.endSessionIn(id, 150);
    await until(() => status("demo_student_2") === "ABSENT");
    expect(status("demo_student_3")).toBe("ABSENT");
    expect(status("demo_student_1")).toBe("ATTENDED");
    expect(byId("roster-status-demo_student_2").textContent).toBe("Absent");
    expect(byId("roster-row-demo_student_2").classList.contains("absent")).toBe(true);
    expect(byId("count-not-checked-in-label").textContent).toBe("Absent");
    expect(count("not-checked-in")).toBe("2");
    expect(byId("session-state").dataset["state"]).toBe("finished");
    expect(visible("finish-session")).toBe(false);
    // Absent students may still be accepted.
    byId("accept-demo_student_2").click();
    await until(() => status("demo_student_2") === "ATTENDED");
    expect(count("not-checked-in")).toBe("1");
  });

  it("shows them as absent after finishing", async () => {
    await startCourseSession();
    await until(() => maybe("roster-row-demo_student_1"));
    byId("finish-session").click();
    await until(() => byId("session-state").dataset["state"] === "finished");
    await until(() => status("demo_student_1") === "ABSENT");
    expect(byId("count-not-checked-in-label").textContent).toBe("Absent");
  });
});

describe("an excused student", () => {
  it("sees the excuse on their record page", async () => {
    const { createApi } = await import("./api.js");
    const token = fake.tokenFor("demo_teacher_8");
    const api = createApi("http://attn.test", () => token, fake.transport);
    const res = await api.teacher.startAttendance({ lessonName: "Excused later", courseCode: "CS101", ends: { case: "duration", value: { seconds: 3600n } } });
    const id = res.attendance!.attendanceId;

    await signInAs("demo_student_2");
    await until(() => visible("search-submit"));
    type("search-lesson", "Excused later");
    byId("search-submit").click();
    await until(() => maybe("search-result"));
    byId("search-result").querySelector<HTMLElement>("[data-testid=attend-button]")!.click();
    await until(() => byId("my-status").dataset["status"] === "ATTENDED");

    await api.teacher.excuseStudent({ attendanceId: id, studentNumber: "demo_student_2", reason: "Left for a match" });
    byId("my-refresh").click();
    await until(() => byId("my-status").dataset["status"] === "EXCUSED");
    expect(byId("my-status").textContent).toBe("Excused — your teacher excused you from this session.");
    expect(byId("my-status").className).toBe("my-status status excused");
    expect(byId("my-reason").textContent).toBe("Excused: Left for a match");
    expect(visible("attend-retry")).toBe(false);
  });

  it("is told why Attend is refused", async () => {
    const { createApi } = await import("./api.js");
    const token = fake.tokenFor("demo_teacher_9");
    const api = createApi("http://attn.test", () => token, fake.transport);
    const res = await api.teacher.startAttendance({ lessonName: "Excused lesson", courseCode: "CS101", ends: { case: "duration", value: { seconds: 3600n } } });
    const id = res.attendance!.attendanceId;
    await api.teacher.excuseStudent({ attendanceId: id, studentNumber: "demo_student_3", reason: "University event" });

    await signInAs("demo_student_3");
    await until(() => visible("search-submit"));
    type("search-lesson", "Excused");
    byId("search-submit").click();
    await until(() => maybe("search-result"));
    byId("search-result").querySelector<HTMLElement>("[data-testid=attend-button]")!.click();
    await until(() => errorText());
    expect(errorText()).toBe("Your teacher has excused you from this session, so there is nothing to check in to. Ask them if that is a mistake.");
    expect(byId("error-banner").dataset["code"]).toBe("EXCUSED");
  });
});

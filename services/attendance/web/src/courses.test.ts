// @vitest-environment happy-dom
// The course panels: a teacher's courses with the report (lowest first,
// flagged under the threshold) and the CSV export; a student's percentages.
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { startApp } from "./app.js";
import { CourseReportRowSchema, CourseSchema } from "./gen/attn/v1/teacher_pb.js";
import { CourseSessionOutcome, MyCourseSchema, MyCourseSessionSchema } from "./gen/attn/v1/student_pb.js";
import { courseSummaryText, exportFileName, formatPercent, joinChunks, outcomeName, OUTCOME_LABEL, sessionDateLabel } from "./pages/courses.js";
import { browserTimeZone } from "./records.js";
import { FakeAttn } from "./testing/fake-attn.js";

let fake: FakeAttn;
let stop: (() => void) | undefined;

const q = (id: string) => document.querySelector<HTMLElement>(`[data-testid="${id}"]`);
const visible = (id: string) => {
  const el = q(id);
  return !!el && !el.closest("[hidden]");
};
const until = (fn: () => unknown) =>
  vi.waitFor(() => {
    if (!fn()) throw new Error(`still waiting for ${fn.toString()}`);
  }, { timeout: 3000, interval: 10 });

async function signInAs(username: string) {
  document.body.innerHTML = '<div id="app"></div>';
  stop = startApp(document.getElementById("app")!, { baseUrl: "http://attn.test", source: "origin" }, fake.transport, { recheckMs: 50 });
  await until(() => visible("signin-username"));
  for (const [id, value] of [["signin-username", username], ["signin-password", "password"]] as const) {
    const input = q(id) as HTMLInputElement;
    input.value = value;
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }
  q("signin-submit")!.click();
}

beforeEach(() => {
  sessionStorage.clear();
  history.replaceState(null, "", "/");
  fake = new FakeAttn();
});

afterEach(() => {
  stop?.();
  stop = undefined;
  vi.restoreAllMocks();
});

describe("pure helpers", () => {
  it("formats a percentage, or a dash without sessions", () => {
    expect(formatPercent(66.666)).toBe("66.7 %");
    expect(formatPercent(0)).toBe("0.0 %");
    expect(formatPercent(undefined)).toBe("—");
  });

  it("joins a file's chunks in order", () => {
    const joined = joinChunks([new Uint8Array([1, 2]), new Uint8Array([]), new Uint8Array([3])]);
    expect([...joined]).toEqual([1, 2, 3]);
  });

  it("names the report's and the register's files apart", () => {
    expect(exportFileName("CS101", "report")).toBe("CS101-attendance.csv");
    expect(exportFileName("CS101", "register")).toBe("CS101-register.csv");
  });

  it("gives a session's day in its own zone, naming the zone when it is not the browser's", () => {
    const s = create(MyCourseSessionSchema, { localDate: "2026-12-01", timeZone: "Europe/Istanbul", startTime: timestampFromMs(Date.UTC(2026, 10, 30, 22, 30)) });
    expect(sessionDateLabel(s, "Europe/Istanbul")).toBe("2026-12-01");
    expect(sessionDateLabel(s, "America/New_York")).toBe("2026-12-01 (Europe/Istanbul)");
    // An older server without local_date: the start time's day in UTC.
    const old = create(MyCourseSessionSchema, { startTime: timestampFromMs(Date.UTC(2026, 10, 30, 22, 30)) });
    expect(sessionDateLabel(old, "UTC")).toBe("2026-11-30");
    expect(sessionDateLabel(old, "Europe/Istanbul")).toBe("2026-11-30 (UTC)");
    expect(sessionDateLabel(create(MyCourseSessionSchema, {}), "UTC")).toBe("—");
  });

  it("names every outcome, excused included", () => {
    expect(OUTCOME_LABEL[CourseSessionOutcome.EXCUSED]).toBe("Excused");
    expect(outcomeName(CourseSessionOutcome.EXCUSED)).toBe("EXCUSED");
    expect(outcomeName(CourseSessionOutcome.ABSENT)).toBe("ABSENT");
    expect(outcomeName(42 as CourseSessionOutcome)).toBe("UNSPECIFIED");
  });

  it("sums a course up with its excused and missed sessions", () => {
    expect(courseSummaryText(create(MyCourseSchema, { attended: 3, totalSessions: 3 }))).toBe("3 of 3 sessions");
    expect(courseSummaryText(create(MyCourseSchema, { attended: 1, excused: 1, absent: 2, totalSessions: 4 }))).toBe("1 of 4 sessions, 1 excused, 2 missed");
  });

  it("reads the browser's time zone, or none where Intl cannot say", () => {
    expect(browserTimeZone()).toBe(Intl.DateTimeFormat().resolvedOptions().timeZone);
    vi.spyOn(Intl, "DateTimeFormat").mockImplementation(() => {
      throw new RangeError("no time zone data");
    });
    expect(browserTimeZone()).toBe("");
  });
});

describe("teacher courses", () => {
  it("hides the card for a teacher without courses", async () => {
    await signInAs("demo_teacher_1");
    await until(() => q("teacher-courses"));
    await until(() => fake.calls.includes("ListCourses"));
    expect(visible("teacher-courses")).toBe(false);
  });

  it("lists the courses, shows a report lowest first with the flagged students, and exports it", async () => {
    fake.courses = [create(CourseSchema, { courseCode: "CS101", displayName: "Intro", enrolledCount: 2 })];
    fake.reports.set("CS101", [
      create(CourseReportRowSchema, { studentNumber: "s1", studentFullName: "Ada", attended: 1, excused: 1, totalSessions: 2, percent: 100 }),
      create(CourseReportRowSchema, { studentNumber: "s2", studentFullName: "Bo", failed: 1, absent: 1, totalSessions: 2, percent: 0, belowWarning: true }),
    ]);
    await signInAs("demo_teacher_1");
    await until(() => visible("course-CS101"));
    expect(q("course-CS101")!.textContent).toContain("Intro · 2 enrolled");

    q("course-report-CS101")!.click();
    await until(() => q("course-report-table"));
    const rows = [...document.querySelectorAll<HTMLElement>("[data-testid^=course-report-row-]")];
    expect(rows.map((r) => r.dataset["testid"])).toEqual(["course-report-row-s2", "course-report-row-s1"]);
    expect(rows[0]!.dataset["belowWarning"]).toBe("true");
    expect(rows[0]!.textContent).toContain("0.0 %");
    expect(rows[0]!.textContent).toContain("under the threshold");
    expect(rows[1]!.dataset["belowWarning"]).toBe("false");
    expect([...document.querySelectorAll("[data-testid=course-report-table] th")].map((th) => th.textContent)).toContain("Excused");
    expect([...rows[1]!.querySelectorAll("td")].map((td) => td.textContent)).toEqual(["s1", "Ada", "1", "1", "0", "0", "100.0 %"]);
    expect(q("course-report-summary")!.textContent).toContain("under 70 %");

    let downloaded: { name: string; text: string } | undefined;
    vi.spyOn(URL, "createObjectURL").mockImplementation(() => "blob:report");
    vi.spyOn(URL, "revokeObjectURL").mockImplementation(() => {});
    vi.spyOn(HTMLAnchorElement.prototype, "click").mockImplementation(function (this: HTMLAnchorElement) {
      downloaded = { name: this.download, text: "" };
    });
    const blobs: Blob[] = [];
    const createObjectURL = URL.createObjectURL as unknown as { mock: { calls: unknown[][] } };
    q("course-export-CS101")!.click();
    await until(() => downloaded);
    for (const [blob] of createObjectURL.mock.calls) blobs.push(blob as Blob);
    expect(downloaded!.name).toBe("CS101-attendance.csv");
    expect(await blobs[0]!.text()).toBe("student_number,percent\r\ns2,0\r\ns1,100\r\n");
    expect(fake.exports).toEqual([false]);

    // The register, beside it: a row per student per session (per_session).
    fake.enrolled.set("CS101", ["s1", "s2"]);
    downloaded = undefined;
    expect(q("course-register-CS101")!.textContent).toBe("Export register CSV");
    q("course-register-CS101")!.click();
    await until(() => downloaded);
    expect(fake.exports).toEqual([false, true]);
    expect(downloaded!.name).toBe("CS101-register.csv");
    const register = createObjectURL.mock.calls.at(-1)![0] as Blob;
    expect(await register.text()).toBe("student_number,attendance_id,local_date,status\r\ns1,a1,2026-12-01,absent\r\ns2,a1,2026-12-01,absent\r\n");
  });
});

describe("student courses", () => {
  it("shows each course's percentage and flags one under the threshold", async () => {
    fake.myCourses = [
      create(MyCourseSchema, { courseCode: "CS101", displayName: "Intro", attended: 1, absent: 2, totalSessions: 3, percent: 100 / 3, belowWarning: true }),
      create(MyCourseSchema, { courseCode: "MATH2", displayName: "Maths", totalSessions: 0 }),
    ];
    await signInAs("demo_student_1");
    await until(() => visible("my-course-CS101"));
    expect(q("my-course-percent-CS101")!.textContent).toBe("33.3 %");
    expect(q("my-course-CS101")!.dataset["belowWarning"]).toBe("true");
    expect(q("my-course-CS101")!.textContent).toContain("1 of 3 sessions, 2 missed");
    expect(q("my-course-CS101")!.textContent).toContain("under 70 %");
    expect(q("my-course-percent-MATH2")!.textContent).toBe("—");
    expect(q("my-course-MATH2")!.dataset["belowWarning"]).toBe("false");
  });

  it("lists each course's sessions with their local date and outcome, excused included", async () => {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    const other = zone === "Asia/Tokyo" ? "Europe/Istanbul" : "Asia/Tokyo";
    fake.myCourses = [
      create(MyCourseSchema, {
        courseCode: "CS101",
        displayName: "Intro",
        attended: 1,
        excused: 1,
        absent: 1,
        totalSessions: 3,
        percent: 200 / 3,
        sessions: [
          create(MyCourseSessionSchema, { attendanceId: "a3", lessonName: "Week 3", localDate: "2026-12-15", timeZone: zone, outcome: CourseSessionOutcome.EXCUSED }),
          create(MyCourseSessionSchema, { attendanceId: "a2", lessonName: "Week 2", localDate: "2026-12-08", timeZone: other, outcome: CourseSessionOutcome.ABSENT }),
          create(MyCourseSessionSchema, { attendanceId: "a1", lessonName: "Week 1", localDate: "2026-12-01", timeZone: zone, outcome: CourseSessionOutcome.ATTENDED }),
        ],
      }),
    ];
    await signInAs("demo_student_1");
    await until(() => visible("my-course-CS101"));
    expect(q("my-course-CS101")!.textContent).toContain("1 of 3 sessions, 1 excused, 1 missed");
    const lines = [...q("my-course-sessions-CS101")!.querySelectorAll<HTMLElement>("li")];
    expect(lines.map((l) => l.dataset["outcome"])).toEqual(["EXCUSED", "ABSENT", "ATTENDED"]);
    expect(lines[0]!.textContent).toBe("2026-12-15 Week 3: Excused");
    expect(lines[0]!.className).toBe("outcome excused");
    expect(q("my-session-date-a2")!.textContent).toBe(`2026-12-08 (${other})`);
    expect(lines[2]!.textContent).toBe("2026-12-01 Week 1: Attended");
  });

  it("hides the card for a student without courses", async () => {
    await signInAs("demo_student_1");
    await until(() => fake.calls.includes("GetMyCourseSummary"));
    expect(visible("student-courses")).toBe(false);
  });
});

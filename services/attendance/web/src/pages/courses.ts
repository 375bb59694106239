// Courses: a teacher's course list with each course's attendance report
// (flagging students under the warning threshold), its CSV export and the
// course register's (a row per student per session); a student's own
// percentage per course with the sessions behind it.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { AppContext } from "../app.js";
import { h } from "../dom.js";
import { CourseSessionOutcome, type MyCourse, type MyCourseSession } from "../gen/attn/v1/student_pb.js";
import { CourseReportOrder, type Course, type CourseReportRow } from "../gen/attn/v1/teacher_pb.js";

/** "66.7 %", or a dash when there were no sessions to count. */
export function formatPercent(percent: number | undefined): string {
  return percent === undefined ? "—" : `${percent.toFixed(1)} %`;
}

/** A streamed file's chunks as one download. */
export function joinChunks(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The two files a course exports: the report (a row per student) or the register (a row per student per session). */
export type CourseExport = "report" | "register";

/** The downloaded file's name: CS101-attendance.csv, CS101-register.csv. */
export function exportFileName(courseCode: string, what: CourseExport): string {
  return `${courseCode}-${what === "register" ? "register" : "attendance"}.csv`;
}

export const OUTCOME_LABEL: Record<CourseSessionOutcome, string> = {
  [CourseSessionOutcome.UNSPECIFIED]: "—",
  [CourseSessionOutcome.ATTENDED]: "Attended",
  [CourseSessionOutcome.FAILED]: "Failed",
  [CourseSessionOutcome.ABSENT]: "Absent",
  [CourseSessionOutcome.EXCUSED]: "Excused",
};

/** The outcome's name for data-outcome (ATTENDED, EXCUSED, …). */
export function outcomeName(o: CourseSessionOutcome): string {
  return CourseSessionOutcome[o] ?? "UNSPECIFIED";
}

/**
 * The day a session took place: its local_date (in the session's own time
 * zone), with the zone named when it is not the browser's; from start_time
 * (as UTC) for a server that sends no local_date.
 */
export function sessionDateLabel(s: MyCourseSession, browserZone: string): string {
  const date = s.localDate || (s.startTime ? timestampDate(s.startTime).toISOString().slice(0, 10) : "");
  if (!date) return "—";
  const zone = s.localDate ? s.timeZone : "UTC";
  return zone && zone !== browserZone ? `${date} (${zone})` : date;
}

/** "1 of 3 sessions, 1 excused, 2 missed". */
export function courseSummaryText(c: MyCourse): string {
  const extra = [c.excused ? `${c.excused} excused` : "", c.absent ? `${c.absent} missed` : ""].filter(Boolean);
  return `${c.attended} of ${c.totalSessions} sessions${extra.length ? `, ${extra.join(", ")}` : ""}`;
}

function download(name: string, bytes: Uint8Array) {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "text/csv;charset=utf-8" }));
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** The teacher's courses (ListCourses' answer); nothing shown for a teacher with none. */
export function teacherCourses(ctx: AppContext, signal: AbortSignal, courses: Promise<Course[]>): HTMLElement {
  const list = h("ul", { class: "courses", testid: "course-list" });
  const report = h("div", { testid: "course-report" });
  const card = h("section", { class: "card", testid: "teacher-courses", hidden: true }, h("h2", null, "My courses"), list, report);

  async function showReport(course: Course) {
    ctx.clearMessages();
    try {
      const res = await ctx.api.teacher.getCourseReport(
        { courseCode: course.courseCode, order: CourseReportOrder.PERCENT_ASCENDING },
        { signal },
      );
      report.replaceChildren(
        h("h3", null, `${course.displayName} (${course.courseCode})`),
        h(
          "p",
          { class: "hint", testid: "course-report-summary" },
          `${res.totalSessions} archived session(s); students under ${res.warningPercent} % are flagged, lowest first.`,
        ),
        h(
          "table",
          { class: "roster", testid: "course-report-table" },
          h("thead", null, h("tr", null, ...["Student no.", "Name", "Attended", "Excused", "Failed", "Absent", "Attendance"].map((t) => h("th", null, t)))),
          h("tbody", null, ...res.rows.map(reportRow)),
        ),
      );
    } catch (e) {
      if (!signal.aborted) ctx.showError(e);
    }
  }

  async function exportReport(course: Course, button: HTMLButtonElement, what: CourseExport) {
    ctx.clearMessages();
    button.disabled = true;
    try {
      const chunks: Uint8Array[] = [];
      for await (const chunk of ctx.api.teacher.exportCourseReport(
        what === "register"
          ? { courseCode: course.courseCode, perSession: true }
          : { courseCode: course.courseCode, order: CourseReportOrder.PERCENT_ASCENDING },
        { signal },
      )) {
        chunks.push(chunk.csv);
      }
      download(exportFileName(course.courseCode, what), joinChunks(chunks));
    } catch (e) {
      if (!signal.aborted) ctx.showError(e);
    } finally {
      button.disabled = false;
    }
  }

  courses
    .then((courses) => {
      card.hidden = courses.length === 0;
      list.replaceChildren(
        ...courses.map((course) => {
          const exportBtn = h("button", { type: "button", class: "secondary", testid: `course-export-${course.courseCode}` }, "Export CSV");
          exportBtn.addEventListener("click", () => void exportReport(course, exportBtn, "report"));
          const registerBtn = h(
            "button",
            { type: "button", class: "secondary", testid: `course-register-${course.courseCode}`, title: "A row per student per session" },
            "Export register CSV",
          );
          registerBtn.addEventListener("click", () => void exportReport(course, registerBtn, "register"));
          return h(
            "li",
            { testid: `course-${course.courseCode}` },
            h("strong", null, course.courseCode),
            ` ${course.displayName} · ${course.enrolledCount} enrolled `,
            h("button", { type: "button", testid: `course-report-${course.courseCode}`, onclick: () => void showReport(course) }, "Report"),
            " ",
            exportBtn,
            " ",
            registerBtn,
          );
        }),
      );
    })
    .catch((e) => {
      if (!signal.aborted) ctx.showError(e);
    });
  return card;
}

function reportRow(row: CourseReportRow): HTMLTableRowElement {
  return h(
    "tr",
    {
      testid: `course-report-row-${row.studentNumber}`,
      class: row.belowWarning ? "below-warning" : "",
      dataset: { belowWarning: String(row.belowWarning) },
    },
    h("td", null, row.studentNumber),
    h("td", null, row.studentFullName),
    h("td", null, row.attended),
    h("td", null, row.excused),
    h("td", null, row.failed),
    h("td", null, row.absent),
    h("td", null, formatPercent(row.percent), row.belowWarning && h("span", { class: "flag" }, " ⚠ under the threshold")),
  );
}

/** The student's own attendance per course, with its sessions; nothing shown without courses. */
export function studentCourses(ctx: AppContext, signal: AbortSignal, browserZone: string): HTMLElement {
  const list = h("ul", { class: "courses", testid: "my-course-list" });
  const card = h("section", { class: "card", testid: "student-courses", hidden: true }, h("h2", null, "My courses"), list);
  ctx.api.student
    .getMyCourseSummary({}, { signal })
    .then((res) => {
      card.hidden = res.courses.length === 0;
      list.replaceChildren(
        ...res.courses.map((c) =>
          h(
            "li",
            { testid: `my-course-${c.courseCode}`, class: c.belowWarning ? "below-warning" : "", dataset: { belowWarning: String(c.belowWarning) } },
            h("strong", null, c.courseCode),
            ` ${c.displayName}: `,
            h("span", { testid: `my-course-percent-${c.courseCode}` }, formatPercent(c.percent)),
            ` (${courseSummaryText(c)})`,
            c.belowWarning && h("span", { class: "flag" }, ` ⚠ under ${res.warningPercent} %`),
            c.sessions.length > 0 &&
              h(
                "details",
                { class: "my-sessions" },
                h("summary", null, `Sessions (${c.sessions.length})`),
                h("ol", { testid: `my-course-sessions-${c.courseCode}` }, ...c.sessions.map((s) => sessionLine(s, browserZone))),
              ),
          ),
        ),
      );
    })
    .catch((e) => {
      if (!signal.aborted) ctx.showError(e);
    });
  return card;
}

function sessionLine(s: MyCourseSession, browserZone: string): HTMLLIElement {
  const outcome = outcomeName(s.outcome);
  return h(
    "li",
    { testid: `my-session-${s.attendanceId}`, class: `outcome ${outcome.toLowerCase()}`, dataset: { outcome } },
    h("time", { testid: `my-session-date-${s.attendanceId}`, dateTime: s.localDate }, sessionDateLabel(s, browserZone)),
    ` ${s.lessonName}: `,
    h("span", { class: `status ${outcome.toLowerCase()}` }, OUTCOME_LABEL[s.outcome] ?? OUTCOME_LABEL[CourseSessionOutcome.UNSPECIFIED]),
  );
}

// Courses: a teacher's course list with each course's attendance report
// (flagging students under the warning threshold) and its CSV export; a
// student's own percentage per course.
import type { AppContext } from "../app.js";
import { h } from "../dom.js";
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

function download(name: string, bytes: Uint8Array) {
  const url = URL.createObjectURL(new Blob([bytes as BlobPart], { type: "text/csv;charset=utf-8" }));
  const a = h("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/** The teacher's courses; nothing shown for a teacher with none. */
export function teacherCourses(ctx: AppContext, signal: AbortSignal): HTMLElement {
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
          h("thead", null, h("tr", null, ...["Student no.", "Name", "Attended", "Failed", "Absent", "Attendance"].map((t) => h("th", null, t)))),
          h("tbody", null, ...res.rows.map(reportRow)),
        ),
      );
    } catch (e) {
      if (!signal.aborted) ctx.showError(e);
    }
  }

  async function exportReport(course: Course, button: HTMLButtonElement) {
    ctx.clearMessages();
    button.disabled = true;
    try {
      const chunks: Uint8Array[] = [];
      for await (const chunk of ctx.api.teacher.exportCourseReport(
        { courseCode: course.courseCode, order: CourseReportOrder.PERCENT_ASCENDING },
        { signal },
      )) {
        chunks.push(chunk.csv);
      }
      download(`${course.courseCode}-attendance.csv`, joinChunks(chunks));
    } catch (e) {
      if (!signal.aborted) ctx.showError(e);
    } finally {
      button.disabled = false;
    }
  }

  ctx.api.teacher
    .listCourses({}, { signal })
    .then((res) => {
      card.hidden = res.courses.length === 0;
      list.replaceChildren(
        ...res.courses.map((course) => {
          const exportBtn = h("button", { type: "button", class: "secondary", testid: `course-export-${course.courseCode}` }, "Export CSV");
          exportBtn.addEventListener("click", () => void exportReport(course, exportBtn));
          return h(
            "li",
            { testid: `course-${course.courseCode}` },
            h("strong", null, course.courseCode),
            ` ${course.displayName} · ${course.enrolledCount} enrolled `,
            h("button", { type: "button", testid: `course-report-${course.courseCode}`, onclick: () => void showReport(course) }, "Report"),
            " ",
            exportBtn,
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
    h("td", null, row.failed),
    h("td", null, row.absent),
    h("td", null, formatPercent(row.percent), row.belowWarning && h("span", { class: "flag" }, " ⚠ under the threshold")),
  );
}

/** The student's own attendance per course; nothing shown without courses. */
export function studentCourses(ctx: AppContext, signal: AbortSignal): HTMLElement {
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
            ` (${c.attended} of ${c.totalSessions} sessions${c.absent ? `, ${c.absent} missed` : ""})`,
            c.belowWarning && h("span", { class: "flag" }, ` ⚠ under ${res.warningPercent} %`),
          ),
        ),
      );
    })
    .catch((e) => {
      if (!signal.aborted) ctx.showError(e);
    });
  return card;
}

// The teacher's page: start a session (for a course or not), watch the
// roster fill up live, accept, fail or excuse a student, finish.
import { timestampDate, timestampMs } from "@bufbuild/protobuf/wkt";
import type { AppContext } from "../app.js";
import { formatTime, h } from "../dom.js";
import { describeError } from "../errors.js";
import { AttendanceState, SecurityOption, type Attendance, type AttendanceRecord } from "../gen/attn/v1/common_pb.js";
import { browserTimeZone, describeReason, parseNetworks, securityLabel, statusClass, STATUS_LABEL } from "../records.js";
import {
  applyRosterEvent,
  displayStatus,
  emptyRoster,
  isSessionClosedForGood,
  msUntilEnd,
  rosterCounts,
  sessionHasEnded,
  sortedRecords,
  upsertRecord,
  type RosterState,
} from "../roster.js";
import type { Course } from "../gen/attn/v1/teacher_pb.js";
import { watchWithRetry, type WatchState } from "../watch.js";
import { linkFor, secondsLeft } from "../check-in-code.js";
import { recordHistory } from "../audit.js";
import { teacherCourses } from "./courses.js";
import { qrSvg, setQr } from "../qr.js";

export const DEFAULT_FAIL_REASON = "Not present in class";

/** An open session whose end time has passed is finished: check-in has closed. */
function sessionState(a: Attendance | undefined, nowMs = Date.now()): "active" | "finished" | "archived" | "deleted" | "unknown" {
  switch (a?.state) {
    case AttendanceState.OPEN:
      return sessionHasEnded(a, nowMs) ? "finished" : "active";
    case AttendanceState.ENDED:
      return "finished";
    case AttendanceState.ARCHIVED:
      return "archived";
    case AttendanceState.DELETED:
      return "deleted";
    default:
      return "unknown";
  }
}

const SESSION_STATE_LABEL = {
  active: "Open for check-in",
  finished: "Finished — check-in closed",
  archived: "Archived",
  deleted: "Deleted",
  unknown: "…",
} as const;

export function mountTeacher(root: HTMLElement, ctx: AppContext): () => void {
  const page = new AbortController();
  let liveView: LiveView | undefined;

  // The session (start form or live roster) above, the courses below; both
  // use the one ListCourses answer.
  const session = h("div");
  const courses = ctx.api.teacher.listCourses({}, { signal: page.signal }).then((res) => res.courses);
  courses.catch(() => undefined); // shown by the courses card
  root.append(session, teacherCourses(ctx, page.signal, courses));

  function showStartForm() {
    liveView?.close();
    liveView = undefined;
    session.replaceChildren(startForm(ctx, page.signal, courses, (a) => showLive(a)));
  }

  function showLive(a: Attendance) {
    liveView?.close();
    liveView = new LiveView(ctx, a, () => showStartForm());
    session.replaceChildren(liveView.element);
  }

  session.append(h("p", { class: "hint", testid: "teacher-loading" }, "Loading your session…"));
  ctx.api.teacher
    .getLiveAttendance({}, { signal: page.signal })
    .then((res) => {
      if (page.signal.aborted) return;
      if (res.attendance) showLive(res.attendance);
      else showStartForm();
    })
    .catch((e) => {
      if (page.signal.aborted) return;
      ctx.showError(e);
      showStartForm();
    });

  return () => {
    page.abort();
    liveView?.close();
  };
}

function startForm(ctx: AppContext, signal: AbortSignal, courses: Promise<Course[]>, started: (a: Attendance) => void): HTMLElement {
  const lesson = h("input", { name: "lesson_name", testid: "start-lesson", maxLength: 200, required: true, placeholder: "e.g. CS101 Lecture 4" });
  // A course session: only its enrolled students check in (unless walk-ins),
  // and the roster lists those who have not. Shown for a teacher with courses.
  const course = h("select", { name: "course_code", testid: "start-course" }, h("option", { value: "" }, "No course"));
  const walkIns = h("input", { name: "allow_walk_ins", type: "checkbox", testid: "start-allow-walk-ins" });
  const courseFields = h(
    "div",
    { testid: "start-course-fields", hidden: true },
    h("label", null, "Course", course),
    h("label", { class: "check" }, walkIns, " Students not enrolled may check in too"),
  );
  course.addEventListener("change", () => {
    // A course session's lesson name defaults to the course's name.
    lesson.required = !course.value;
    lesson.placeholder = course.value ? "Optional: the course's name when empty" : "e.g. CS101 Lecture 4";
  });
  courses
    .then((list) => {
      if (signal.aborted || list.length === 0) return;
      course.append(...list.map((c) => h("option", { value: c.courseCode }, `${c.courseCode} — ${c.displayName}`)));
      courseFields.hidden = false;
    })
    .catch(() => undefined);
  const duration = h("input", { name: "duration", type: "number", testid: "start-duration", min: "1", max: "1440", step: "1", value: "90", required: true });
  const security = h(
    "select",
    { name: "security_option", testid: "start-security" },
    h("option", { value: String(SecurityOption.MANUAL), selected: true }, "1 — manual (I accept or fail students)"),
    h("option", { value: String(SecurityOption.NETWORK) }, "2 — manual + classroom network check"),
    h("option", { value: String(SecurityOption.NETWORK_AND_FACE) }, "3 — network check + face recognition"),
  );
  const networks = h("textarea", {
    name: "networks",
    testid: "start-networks",
    rows: 2,
    placeholder: "Optional CIDRs, e.g. 10.20.0.0/16 — empty: your own network",
  });
  const requireCode = h("input", { name: "require_check_in_code", type: "checkbox", testid: "start-require-code" });
  const codePeriod = h("input", { name: "check_in_code_period", type: "number", testid: "start-code-period", min: "5", max: "300", step: "1", value: "15" });
  const submit = h("button", { type: "submit", testid: "start-submit" }, "Start attendance");

  async function onSubmit(ev: SubmitEvent) {
    ev.preventDefault();
    ctx.clearMessages();
    const minutes = Number(duration.value);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
      ctx.showMessage("Please check your input: Duration must be a whole number of minutes from 1 to 1440.", "INVALID_ARGUMENT");
      return;
    }
    const period = Number(codePeriod.value);
    if (requireCode.checked && (!Number.isInteger(period) || period < 5 || period > 300)) {
      ctx.showMessage("Please check your input: the code's period must be a whole number of seconds from 5 to 300.", "INVALID_ARGUMENT");
      return;
    }
    submit.disabled = true;
    try {
      const res = await ctx.api.teacher.startAttendance(
        {
          lessonName: lesson.value.trim(),
          ends: { case: "duration", value: { seconds: BigInt(minutes * 60) } },
          securityOption: Number(security.value) as SecurityOption,
          networks: parseNetworks(networks.value),
          ...(requireCode.checked ? { requireCheckInCode: true, checkInCodePeriod: { seconds: BigInt(period) } } : {}),
          ...(course.value ? { courseCode: course.value, allowWalkIns: walkIns.checked } : {}),
          // Reports give the session's dates in the teacher's own zone.
          timeZone: browserTimeZone(),
        },
        { signal },
      );
      if (!res.attendance) throw new Error("the server did not return the new session");
      ctx.showInfo(`Attendance for “${res.attendance.lessonName}” started.`);
      started(res.attendance);
    } catch (e) {
      if (!signal.aborted) ctx.showError(e);
    } finally {
      submit.disabled = false;
    }
  }

  return h(
    "section",
    { class: "card", testid: "start-page" },
    h("h2", null, "Start attendance"),
    h(
      "form",
      { testid: "start-form", onsubmit: (ev: SubmitEvent) => void onSubmit(ev) },
      courseFields,
      h("label", null, "Lesson name", lesson),
      h("label", null, "Duration (minutes)", duration),
      h("label", null, "Security option", security),
      h("label", null, "Networks", networks),
      h("label", { class: "check" }, requireCode, " Ask for the rotating code shown on the projector"),
      h("label", null, "Code changes every (seconds)", codePeriod),
      submit,
    ),
  );
}

/**
 * The check-in code for the projector: the digits, the check-in link's QR
 * code and the countdown to the next code. "Projector view" fills the screen
 * (full screen where the browser allows it) so the back row can read it.
 */
class CodePanel {
  private readonly title = h("h3", { testid: "check-in-code-title" }, "Check-in code");
  private readonly digits = h("div", { class: "check-in-code", testid: "check-in-code" }, "······");
  private readonly countdown = h("p", { class: "countdown", testid: "check-in-code-countdown" });
  private readonly qr = qrSvg(undefined, "QR code of the check-in link");
  private readonly link = h("a", { testid: "check-in-code-link", target: "_blank", rel: "noopener" });
  private readonly projectorBtn = h("button", { type: "button", class: "secondary", testid: "check-in-code-projector" }, "Projector view");
  private readonly closeBtn = h("button", { type: "button", class: "secondary", testid: "check-in-code-projector-close", hidden: true }, "Exit projector view");
  readonly element = h(
    "section",
    { class: "code-panel", testid: "check-in-code-panel", hidden: true },
    this.title,
    h(
      "div",
      { class: "code-body" },
      h("div", { class: "check-in-qr" }, this.qr),
      h("div", { class: "code-text" }, this.digits, this.countdown, h("p", { class: "hint code-link" }, "Scan the QR, type the code, or open: ", this.link)),
    ),
    h("div", { class: "row code-actions" }, this.projectorBtn, this.closeBtn),
  );
  private untilMs = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly onKey = (ev: KeyboardEvent) => {
    if (ev.key === "Escape") this.projector(false);
  };
  private readonly onFullscreenChange = () => {
    // Leaving full screen (Esc, the browser's own button) leaves the projector view too.
    if (!document.fullscreenElement && this.element.classList.contains("projector")) this.projector(false);
  };

  constructor(lessonName: string) {
    this.qr.dataset["testid"] = "check-in-qr";
    this.qr.classList.add("qr");
    if (lessonName) this.title.textContent = `Check in to “${lessonName}”`;
    this.projectorBtn.addEventListener("click", () => this.projector(true));
    this.closeBtn.addEventListener("click", () => this.projector(false));
  }

  show(attendanceId: string, code: string, untilMs: number, qrPayload: string) {
    this.digits.textContent = `${code.slice(0, 3)} ${code.slice(3)}`;
    this.digits.dataset["code"] = code;
    const href = linkFor(qrPayload, location.origin, location.pathname, attendanceId, code);
    this.link.href = href;
    this.link.textContent = href;
    setQr(this.qr, href, `QR code of the check-in link for code ${code}`);
    this.untilMs = untilMs;
    this.tick();
    this.timer ??= setInterval(() => this.tick(), 250);
  }

  stop() {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.projector(false);
    this.element.hidden = true;
  }

  /** The full-screen projector view, on or off. */
  projector(on: boolean) {
    const was = this.element.classList.contains("projector");
    if (on === was) return;
    this.element.classList.toggle("projector", on);
    this.element.dataset["projector"] = String(on);
    this.projectorBtn.hidden = on;
    this.closeBtn.hidden = !on;
    if (on) {
      document.addEventListener("keydown", this.onKey);
      document.addEventListener("fullscreenchange", this.onFullscreenChange);
      // Full screen needs the click's user gesture and may be refused; the view fills the window anyway.
      void this.element.requestFullscreen?.().catch(() => undefined);
    } else {
      document.removeEventListener("keydown", this.onKey);
      document.removeEventListener("fullscreenchange", this.onFullscreenChange);
      if (document.fullscreenElement === this.element) void document.exitFullscreen?.().catch(() => undefined);
    }
  }

  private tick() {
    const left = this.untilMs ? secondsLeft(this.untilMs, Date.now()) : undefined;
    this.countdown.textContent = left === undefined ? "" : `Next code in ${left} s`;
  }
}

interface Row {
  tr: HTMLTableRowElement;
  name: HTMLTableCellElement;
  status: HTMLTableCellElement;
  reason: HTMLTableCellElement;
  time: HTMLTableCellElement;
  accept: HTMLButtonElement;
  fail: HTMLButtonElement;
  failForm: HTMLFormElement;
  failReason: HTMLInputElement;
  excuse: HTMLButtonElement;
  excuseForm: HTMLFormElement;
  excuseReason: HTMLInputElement;
  history: HTMLButtonElement;
  historyList: HTMLElement;
  busy: boolean;
}

class LiveView {
  readonly element: HTMLElement;
  private state: RosterState;
  private readonly stream = new AbortController();
  /** The code's stream: ends with the page, or once the session is no longer open. */
  private readonly codeStream = new AbortController();
  private readonly rows = new Map<string, Row>();
  private readonly tbody = h("tbody", { testid: "roster-body" });
  private readonly empty = h("p", { class: "hint", testid: "roster-empty" }, "No check-ins yet. Students will appear here as they attend.");
  private readonly header = h("div", { class: "session-head" });
  private readonly counts = {
    attended: h("strong", { testid: "count-attended" }, "0"),
    pending: h("strong", { testid: "count-pending" }, "0"),
    failed: h("strong", { testid: "count-failed" }, "0"),
    notCheckedIn: h("strong", { testid: "count-not-checked-in" }, "0"),
    excused: h("strong", { testid: "count-excused" }, "0"),
    total: h("strong", { testid: "count-total" }, "0"),
  };
  /** "Not checked in" while the session is open, "Absent" once it has ended. */
  private readonly notCheckedInLabel = h("span", { testid: "count-not-checked-in-label" }, "Not checked in");
  /** Re-renders when the end time passes: the not-checked-in lines become absent. */
  private endTimer: ReturnType<typeof setTimeout> | undefined;
  private endTimerFor: number | undefined;
  private readonly streamStatus = h("span", { class: "stream", testid: "stream-status" });
  private readonly finishBtn = h("button", { type: "button", class: "danger", testid: "finish-session", onclick: () => void this.finish() }, "Finish attendance");
  private readonly newBtn = h("button", { type: "button", class: "secondary", testid: "new-session", hidden: true }, "Start a new session");
  private readonly code: CodePanel;

  constructor(
    private readonly ctx: AppContext,
    attendance: Attendance,
    onNewSession: () => void,
  ) {
    this.state = { ...emptyRoster, attendance };
    this.code = new CodePanel(attendance.lessonName);
    this.newBtn.addEventListener("click", onNewSession);
    this.element = h(
      "section",
      { class: "card", testid: "live-session", dataset: { attendanceId: attendance.attendanceId } },
      this.header,
      this.code.element,
      h(
        "div",
        { class: "counts" },
        h("span", { class: "count attended" }, "Checked in ", this.counts.attended),
        h("span", { class: "count pending" }, "Pending ", this.counts.pending),
        h("span", { class: "count failed" }, "Failed ", this.counts.failed),
        h("span", { class: "count not-checked-in" }, this.notCheckedInLabel, " ", this.counts.notCheckedIn),
        h("span", { class: "count excused" }, "Excused ", this.counts.excused),
        h("span", { class: "count total" }, "Total ", this.counts.total),
        h("span", { class: "spacer" }),
        this.streamStatus,
      ),
      h(
        "table",
        { class: "roster", testid: "roster-table" },
        h(
          "thead",
          null,
          h("tr", null, h("th", null, "Student no."), h("th", null, "Name"), h("th", null, "Status"), h("th", null, "Reason"), h("th", null, "Time"), h("th", null, "")),
        ),
        this.tbody,
      ),
      this.empty,
      h("div", { class: "row" }, this.finishBtn, this.newBtn),
    );
    this.render();
    void this.watch();
    if (attendance.requireCheckInCode) void this.watchCode();
  }

  close() {
    this.stream.abort();
    this.codeStream.abort();
    this.code.stop();
    if (this.endTimer !== undefined) clearTimeout(this.endTimer);
    this.endTimer = undefined;
  }

  /** One timer for the session's end time, set again when the end time changes. */
  private scheduleEnd() {
    if (this.stream.signal.aborted) return;
    const a = this.state.attendance;
    const wait = msUntilEnd(a, Date.now());
    const key = wait === undefined ? undefined : timestampMs(a!.endTime!);
    if (key === this.endTimerFor) return;
    if (this.endTimer !== undefined) clearTimeout(this.endTimer);
    this.endTimer = undefined;
    this.endTimerFor = key;
    if (wait === undefined) return;
    // setTimeout's longest wait is about 24.8 days; a session is at most a day.
    this.endTimer = setTimeout(() => {
      this.endTimer = undefined;
      this.endTimerFor = undefined;
      this.render();
    }, Math.min(wait + 50, 2 ** 31 - 1));
  }

  /** The rotating code, for the projector, until the session ends. */
  private async watchCode() {
    const id = this.state.attendance!.attendanceId;
    if (this.codeStream.signal.aborted) return;
    this.code.element.hidden = false;
    await watchWithRetry({
      signal: this.codeStream.signal,
      open: (signal) => this.ctx.api.teacher.watchCheckInCode({ attendanceId: id }, { signal }),
      onMessage: (msg) => this.code.show(id, msg.code, msg.validUntil ? timestampDate(msg.validUntil).getTime() : 0, msg.qrPayload),
      reconnectAfterEnd: () => sessionState(this.state.attendance) === "active",
      onState: (s) => {
        if (s.kind === "ended" || s.kind === "failed") this.code.stop();
      },
    });
  }

  private setState(next: RosterState) {
    if (next === this.state) return;
    this.state = next;
    this.render();
  }

  private async watch() {
    const id = this.state.attendance!.attendanceId;
    await watchWithRetry({
      signal: this.stream.signal,
      open: (signal) => this.ctx.api.teacher.watchRecords({ attendanceId: id }, { signal }),
      onMessage: (msg) => this.setState(applyRosterEvent(this.state, msg.event)),
      // The server ends the stream once the session is archived or deleted; any other end is a drop.
      reconnectAfterEnd: () => !isSessionClosedForGood(this.state.attendance),
      onState: (s) => this.showStreamState(s),
    });
  }

  private showStreamState(s: WatchState) {
    this.streamStatus.dataset["state"] = s.kind;
    switch (s.kind) {
      case "connecting":
        this.streamStatus.textContent = s.attempt ? "Reconnecting…" : "Connecting…";
        break;
      case "live":
        this.streamStatus.textContent = "● Live";
        break;
      case "retrying":
        this.streamStatus.textContent = `Connection lost${s.error ? ` (${describeError(s.error)})` : ""} — retrying in ${Math.ceil(s.delayMs / 1000)} s`;
        break;
      case "ended":
        this.streamStatus.textContent = "Session closed; no more updates.";
        break;
      case "failed":
        this.streamStatus.textContent = "Live updates stopped.";
        this.ctx.showError(s.error);
        break;
    }
  }

  private renderHeader() {
    const a = this.state.attendance!;
    const st = sessionState(a);
    const end = a.endTime ? timestampDate(a.endTime) : undefined;
    this.header.replaceChildren(
      h("h2", { testid: "session-lesson" }, a.lessonName),
      h(
        "dl",
        null,
        h("dt", null, "State"),
        h("dd", { testid: "session-state", dataset: { state: st } }, SESSION_STATE_LABEL[st]),
        h("dt", null, "Security"),
        h("dd", { testid: "session-security", dataset: { option: String(a.securityOption) } }, securityLabel(a.securityOption)),
        h("dt", null, st === "active" ? "Closes" : "Closed"),
        h("dd", { testid: "session-ends" }, formatTime(end)),
        a.courseCode && [h("dt", null, "Course"), h("dd", { testid: "session-course" }, a.courseCode, a.allowWalkIns ? " (walk-ins allowed)" : "")],
        a.timeZone && [h("dt", null, "Time zone"), h("dd", { testid: "session-time-zone" }, a.timeZone)],
        a.networks.length > 0 && [h("dt", null, "Networks"), h("dd", { testid: "session-networks" }, a.networks.join(", "))],
        h("dt", null, "Session id"),
        h("dd", null, h("code", { testid: "session-id" }, a.attendanceId)),
      ),
    );
    this.finishBtn.hidden = st !== "active";
    this.newBtn.hidden = st === "active";
  }

  private render() {
    this.renderHeader();
    // A finished session takes no check-ins: its code leaves the screen (and the projector).
    const st = sessionState(this.state.attendance);
    if ((st === "finished" || st === "archived" || st === "deleted") && !this.codeStream.signal.aborted) {
      this.codeStream.abort();
      this.code.stop();
    }
    const c = rosterCounts(this.state);
    this.counts.attended.textContent = String(c.attended);
    this.counts.pending.textContent = String(c.pending);
    this.counts.failed.textContent = String(c.failed);
    this.counts.notCheckedIn.textContent = String(c.notCheckedIn);
    this.counts.excused.textContent = String(c.excused);
    this.counts.total.textContent = String(c.total);
    this.notCheckedInLabel.textContent = st === "active" ? "Not checked in" : "Absent";
    this.scheduleEnd();
    const records = sortedRecords(this.state);
    this.empty.hidden = records.length > 0;
    const seen = new Set<string>();
    records.forEach((r, i) => {
      seen.add(r.studentNumber);
      const row = this.rows.get(r.studentNumber) ?? this.createRow(r.studentNumber);
      this.updateRow(row, r);
      // Move only rows that are out of place, so a half-typed fail reason keeps its focus.
      if (this.tbody.children[i] !== row.tr) this.tbody.insertBefore(row.tr, this.tbody.children[i] ?? null);
    });
    for (const [sn, row] of this.rows) {
      if (!seen.has(sn)) {
        row.tr.remove();
        this.rows.delete(sn);
      }
    }
  }

  private createRow(sn: string): Row {
    const failReason = h("input", { testid: `fail-reason-${sn}`, maxLength: 500, value: DEFAULT_FAIL_REASON, "aria-label": `Reason for failing ${sn}` });
    const failForm = h(
      "form",
      { class: "fail-form", testid: `fail-form-${sn}`, hidden: true },
      failReason,
      h("button", { type: "submit", class: "danger", testid: `fail-confirm-${sn}` }, "Fail"),
      h("button", { type: "button", class: "secondary", testid: `fail-cancel-${sn}`, onclick: () => (failForm.hidden = true) }, "Cancel"),
    );
    const excuseReason = h("input", {
      testid: `excuse-reason-${sn}`,
      maxLength: 500,
      placeholder: "Why (e.g. doctor's note)",
      "aria-label": `Reason for excusing ${sn}`,
    });
    const excuseForm = h(
      "form",
      { class: "fail-form excuse-form", testid: `excuse-form-${sn}`, hidden: true },
      excuseReason,
      h("button", { type: "submit", class: "secondary", testid: `excuse-confirm-${sn}` }, "Excuse"),
      h("button", { type: "button", class: "secondary", testid: `excuse-cancel-${sn}`, onclick: () => (excuseForm.hidden = true) }, "Cancel"),
    );
    const row: Row = {
      tr: h("tr", { testid: `roster-row-${sn}`, dataset: { studentNumber: sn } }),
      name: h("td", { testid: `roster-name-${sn}` }),
      status: h("td", { testid: `roster-status-${sn}` }),
      reason: h("td", { testid: `roster-reason-${sn}` }),
      time: h("td", { testid: `roster-time-${sn}` }),
      accept: h("button", { type: "button", class: "ok", testid: `accept-${sn}` }, "Accept"),
      fail: h("button", { type: "button", class: "danger", testid: `fail-${sn}` }, "Fail…"),
      failForm,
      failReason,
      excuse: h("button", { type: "button", class: "secondary", testid: `excuse-${sn}` }, "Excuse…"),
      excuseForm,
      excuseReason,
      history: h("button", { type: "button", class: "secondary", testid: `history-${sn}` }, "History"),
      historyList: h("ol", { class: "history", testid: `history-list-${sn}`, hidden: true }),
      busy: false,
    };
    row.history.addEventListener("click", () => void this.toggleHistory(row, sn));
    row.accept.addEventListener("click", () => void this.act(row, sn, "accept"));
    row.fail.addEventListener("click", () => {
      failForm.hidden = !failForm.hidden;
      if (!failForm.hidden) {
        excuseForm.hidden = true;
        failReason.focus();
        failReason.select();
      }
    });
    failForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void this.act(row, sn, "fail");
    });
    failForm.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") failForm.hidden = true;
    });
    row.excuse.addEventListener("click", () => {
      excuseForm.hidden = !excuseForm.hidden;
      if (!excuseForm.hidden) {
        failForm.hidden = true;
        excuseReason.focus();
      }
    });
    excuseForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (!excuseReason.value.trim()) {
        this.ctx.showMessage("Please check your input: give the reason for the excuse (e.g. a doctor's note).", "INVALID_ARGUMENT");
        excuseReason.focus();
        return;
      }
      void this.act(row, sn, "excuse");
    });
    excuseForm.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") excuseForm.hidden = true;
    });
    row.tr.append(
      h("td", null, sn),
      row.name,
      row.status,
      row.reason,
      row.time,
      h("td", { class: "actions" }, row.accept, row.fail, row.excuse, row.history, failForm, excuseForm, row.historyList),
    );
    this.rows.set(sn, row);
    return row;
  }

  private updateRow(row: Row, r: AttendanceRecord) {
    // A not-checked-in line shows as absent once the session has ended.
    const s = displayStatus(r, this.state.attendance, Date.now());
    row.tr.dataset["status"] = s;
    row.tr.className = `roster-line ${statusClass(s)}`;
    row.name.textContent = r.studentFullName;
    row.status.textContent = STATUS_LABEL[s];
    row.status.dataset["status"] = s;
    row.status.className = `status ${statusClass(s)}`;
    row.reason.textContent = s === "DELETED" ? r.deletionReason : describeReason(r);
    row.reason.title = s === "EXCUSED" ? r.excuseReason : r.failReason;
    row.time.textContent = r.attendanceTime ? formatTime(timestampDate(r.attendanceTime)) : "";
    // Accept, fail and excuse also take a course session's not-checked-in (or absent) lines.
    row.accept.disabled = row.busy || s === "ATTENDED" || s === "DELETED";
    row.fail.disabled = row.busy || s === "FAILED" || s === "DELETED";
    row.excuse.disabled = row.busy || s === "EXCUSED" || s === "DELETED";
    if (row.fail.disabled) row.failForm.hidden = true;
    if (row.excuse.disabled) row.excuseForm.hidden = true;
  }

  private async act(row: Row, sn: string, what: "accept" | "fail" | "excuse") {
    const attendanceId = this.state.attendance!.attendanceId;
    this.ctx.clearMessages();
    row.busy = true;
    row.accept.disabled = row.fail.disabled = row.excuse.disabled = true;
    const signal = this.stream.signal;
    try {
      const res =
        what === "accept"
          ? await this.ctx.api.teacher.acceptStudent({ attendanceId, studentNumber: sn }, { signal })
          : what === "fail"
            ? await this.ctx.api.teacher.failStudent(
                { attendanceId, studentNumber: sn, reason: row.failReason.value.trim() || DEFAULT_FAIL_REASON },
                { signal },
              )
            : await this.ctx.api.teacher.excuseStudent({ attendanceId, studentNumber: sn, reason: row.excuseReason.value.trim() }, { signal });
      row.failForm.hidden = true;
      row.failReason.value = DEFAULT_FAIL_REASON;
      row.excuseForm.hidden = true;
      row.excuseReason.value = "";
      row.busy = false;
      // The stream brings the same change; applying the answer now makes the click feel instant.
      if (res.record) this.setState(upsertRecord(this.state, res.record));
    } catch (e) {
      if (!this.stream.signal.aborted) this.ctx.showError(e);
    } finally {
      row.busy = false;
      const current = this.state.records.get(sn);
      if (current) this.updateRow(row, current);
    }
  }

  /** Shows (or hides) who changed this record, when, and why: the audit trail. */
  private async toggleHistory(row: Row, sn: string) {
    if (!row.historyList.hidden) {
      row.historyList.hidden = true;
      return;
    }
    const attendanceId = this.state.attendance!.attendanceId;
    this.ctx.clearMessages();
    row.history.disabled = true;
    try {
      const res = await this.ctx.api.teacher.listAuditEvents({ attendanceId }, { signal: this.stream.signal });
      const lines = recordHistory(res.events, sn);
      row.historyList.replaceChildren(
        ...(lines.length === 0
          ? [h("li", { class: "hint" }, "No changes by a teacher or the face check.")]
          : lines.map((l) =>
              h(
                "li",
                null,
                h("time", null, formatTime(l.when)),
                " ",
                h("strong", null, l.what),
                l.change && ` (${l.change})`,
                ` by ${l.who}`,
                l.reason && ` — ${l.reason}`,
              ),
            )),
      );
      row.historyList.hidden = false;
    } catch (e) {
      if (!this.stream.signal.aborted) this.ctx.showError(e);
    } finally {
      row.history.disabled = false;
    }
  }

  private async finish() {
    const attendanceId = this.state.attendance!.attendanceId;
    this.ctx.clearMessages();
    this.finishBtn.disabled = true;
    try {
      const res = await this.ctx.api.teacher.finishAttendance({ attendanceId }, { signal: this.stream.signal });
      if (res.attendance) this.setState(applyRosterEvent(this.state, { case: "attendance", value: res.attendance }));
      this.ctx.showInfo("Attendance finished. Check-in is closed; you can still accept, fail or excuse students.");
    } catch (e) {
      if (!this.stream.signal.aborted) this.ctx.showError(e);
    } finally {
      this.finishBtn.disabled = false;
    }
  }
}

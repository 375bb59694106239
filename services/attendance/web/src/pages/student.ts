// The student's page: find a session by lesson and teacher name, attend
// (with a selfie for option 3), and watch the record until it is final.
import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { AppContext } from "../app.js";
import { formatTime, h } from "../dom.js";
import { studentCourses } from "./courses.js";
import { describeError } from "../errors.js";
import { FailCode, SecurityOption, type Attendance, type AttendanceRecord } from "../gen/attn/v1/common_pb.js";
import { browserTimeZone, describeReason, securityLabel, statusClass, statusOf } from "../records.js";
import { newRequestId } from "../request-id.js";
import { callWithRetry } from "../retry.js";
import { createSelfiePicker, type SelfiePicker } from "../selfie.js";
import { abortableSleep, watchWithRetry, type WatchState } from "../watch.js";
import { checkInLink, scannedCheckInLink } from "../check-in-code.js";
import { createQrScanner, qrScanSupport, type QrScanner } from "../qr-scan.js";

import { STUDENT_CURRENT_KEY as CURRENT_KEY } from "../session.js";

interface Current {
  attendanceId: string;
  lessonName: string;
  securityOption: SecurityOption;
  /** When check-in closes (ms since epoch), 0 if unknown. */
  endTimeMs: number;
  /** Check-ins need the code on the teacher's projector. */
  requireCode?: boolean;
}

/** How long after the session's end the page keeps re-checking a final record. */
const RECHECK_AFTER_END_MS = 15 * 60_000;

function rememberCurrent(c: Current | undefined) {
  try {
    if (c) sessionStorage.setItem(CURRENT_KEY, JSON.stringify(c));
    else sessionStorage.removeItem(CURRENT_KEY);
  } catch {
    /* storage disabled: nothing to remember */
  }
}

function recallCurrent(): Current | undefined {
  try {
    const raw = sessionStorage.getItem(CURRENT_KEY);
    const c = raw ? (JSON.parse(raw) as Partial<Current>) : undefined;
    if (!c || typeof c.attendanceId !== "string" || !c.attendanceId) return undefined;
    return {
      attendanceId: c.attendanceId,
      lessonName: String(c.lessonName ?? ""),
      securityOption: Number(c.securityOption ?? SecurityOption.UNSPECIFIED) as SecurityOption,
      endTimeMs: Number(c.endTimeMs ?? 0),
      requireCode: Boolean(c.requireCode),
    };
  } catch {
    return undefined;
  }
}

export function mountStudent(root: HTMLElement, ctx: AppContext): () => void {
  const page = new AbortController();
  let selfie: SelfiePicker | undefined;
  let watch: AbortController | undefined;
  let current: Current | undefined;
  let last: AttendanceRecord | undefined;
  /** Cuts short the watch's current wait (the re-check of a final record, or a retry's backoff). */
  let wake: (() => void) | undefined;

  // --- search ---------------------------------------------------------------
  const lesson = h("input", { name: "lesson_name", testid: "search-lesson", placeholder: "Lesson name" });
  const teacher = h("input", { name: "teacher_name", testid: "search-teacher", placeholder: "Teacher name" });
  const searchBtn = h("button", { type: "submit", testid: "search-submit" }, "Find sessions");
  const results = h("ul", { class: "results", testid: "search-results" });
  const noResults = h("p", { class: "hint", testid: "search-empty", hidden: true }, "No open session matches. Check the names, or ask your teacher whether check-in is open.");

  async function search(ev: SubmitEvent) {
    ev.preventDefault();
    ctx.clearMessages();
    if (!lesson.value.trim() && !teacher.value.trim()) {
      ctx.showMessage("Please enter a lesson name, a teacher name, or both.", "INVALID_ARGUMENT");
      return;
    }
    searchBtn.disabled = true;
    try {
      const res = await ctx.api.student.findActiveAttendances(
        { lessonName: lesson.value.trim(), teacherName: teacher.value.trim() },
        { signal: page.signal },
      );
      showResults(res.attendances);
    } catch (e) {
      if (!page.signal.aborted) ctx.showError(e);
    } finally {
      searchBtn.disabled = false;
    }
  }

  /** The sessions the last search found, so a scanned link to one of them knows its lesson and security option. */
  const found = new Map<string, Attendance>();

  function showResults(list: Attendance[]) {
    closeSelfie();
    found.clear();
    for (const a of list) found.set(a.attendanceId, a);
    results.replaceChildren(
      ...list.map((a) =>
        h(
          "li",
          { class: "result", testid: "search-result", dataset: { attendanceId: a.attendanceId, lesson: a.lessonName } },
          h(
            "div",
            null,
            h("strong", { testid: "result-lesson" }, a.lessonName),
            " — ",
            h("span", { testid: "result-teacher" }, a.teacherFullName || a.teacherSchoolNumber),
            h(
              "div",
              { class: "hint" },
              `Closes ${formatTime(a.endTime ? timestampDate(a.endTime) : undefined)} · security ${securityLabel(a.securityOption)}`,
            ),
          ),
          h("button", { type: "button", testid: "attend-button", onclick: (ev: MouseEvent) => startAttend(a, ev.currentTarget as HTMLButtonElement) }, "Attend"),
        ),
      ),
    );
    noResults.hidden = list.length > 0;
  }

  // --- attend ---------------------------------------------------------------
  const selfieSlot = h("div", { testid: "selfie-slot" });

  function closeSelfie() {
    selfie?.stop();
    selfie = undefined;
    selfieSlot.replaceChildren();
  }

  /**
   * Option 3 opens the selfie panel first, and a session asking for the
   * check-in code a panel for the code; the others check in at once.
   * `code`: the code from a check-in link, filled in.
   */
  function startAttend(a: Attendance | Current, button?: HTMLButtonElement, code = "") {
    ctx.clearMessages();
    closeScanner();
    const c: Current =
      "endTimeMs" in a
        ? a
        : {
            attendanceId: a.attendanceId,
            lessonName: a.lessonName,
            securityOption: a.securityOption,
            endTimeMs: a.endTime ? timestampDate(a.endTime).getTime() : 0,
            requireCode: a.requireCheckInCode,
          };
    const face = c.securityOption === SecurityOption.NETWORK_AND_FACE;
    if (!face && !c.requireCode) {
      void attend(c, undefined, "", button);
      return;
    }
    closeSelfie();
    const send = h("button", { type: "button", testid: "attend-submit", disabled: face }, "Send check-in");
    const cancel = h("button", { type: "button", class: "secondary", testid: "attend-cancel", onclick: closeSelfie }, "Cancel");
    const codeInput = h("input", {
      name: "check_in_code",
      testid: "check-in-code-input",
      inputMode: "numeric",
      autocomplete: "one-time-code",
      maxLength: 7,
      placeholder: "6 digits on the projector",
      value: code,
    });
    const picker = face
      ? createSelfiePicker(
          (ready) => (send.disabled = !ready),
          (msg) => ctx.showMessage(msg, "SELFIE"),
        )
      : undefined;
    selfie = picker;
    send.addEventListener("click", () => void attend(c, picker?.bytes(), codeInput.value, send));
    selfieSlot.replaceChildren(
      h(
        "section",
        { class: "card", testid: "attend-panel" },
        h("h3", null, `Check in to “${c.lessonName}”`),
        c.requireCode && h("label", null, "Check-in code", codeInput),
        c.requireCode && canScan && h("button", { type: "button", class: "secondary", testid: "attend-scan", onclick: startScan }, "Scan the projector's QR instead"),
        picker?.element,
        h("div", { class: "row" }, send, cancel),
      ),
    );
    selfieSlot.scrollIntoView?.({ block: "nearest" });
  }

  async function attend(c: Current, photo: Uint8Array | undefined, code: string, button?: HTMLButtonElement) {
    if (c.securityOption === SecurityOption.NETWORK_AND_FACE && !photo) {
      ctx.showMessage("This session needs a selfie: take one or choose a photo first.", "INVALID_ARGUMENT");
      return;
    }
    // One request_id per attempt: a retry of this same attempt after a dropped
    // connection gets the first answer back instead of a second check-in.
    const requestId = newRequestId();
    if (button) button.disabled = true;
    try {
      const res = await callWithRetry(
        () =>
          ctx.api.student.attend(
            { attendanceId: c.attendanceId, requestId, checkInCode: code.replace(/\s+/g, ""), ...(photo ? { selfie: photo } : {}) },
            { signal: page.signal, timeoutMs: 30_000 },
          ),
        { retries: 2, signal: page.signal },
      );
      if (res.record?.failCode === FailCode.CHECK_IN_CODE_INVALID) {
        // Recorded as failed; the panel stays open for the code shown now.
        const input = selfieSlot.querySelector<HTMLInputElement>("input[name=check_in_code]");
        input?.focus();
        input?.select();
      } else {
        closeSelfie();
      }
      follow(c, res.record);
    } catch (e) {
      if (page.signal.aborted) return;
      const err = ConnectError.from(e);
      ctx.showError(err);
      // Already checked in (or pending): show where that record stands.
      if (err.code === Code.AlreadyExists) {
        closeSelfie();
        follow(c, undefined);
      }
    } finally {
      if (button) button.disabled = false;
    }
  }

  // --- my record --------------------------------------------------------------
  const myLesson = h("h3", { testid: "my-lesson" });
  const myStatus = h("p", { class: "my-status", testid: "my-status", role: "status", "aria-live": "polite" });
  const myReason = h("p", { class: "hint", testid: "my-reason" });
  const myTime = h("p", { class: "hint", testid: "my-time" });
  const myWatch = h("p", { class: "hint stream", testid: "my-watch-status" });
  const retryBtn = h("button", { type: "button", testid: "attend-retry", hidden: true }, "Try again");
  retryBtn.addEventListener("click", () => current && startAttend(current, retryBtn));
  const refreshBtn = h("button", { type: "button", class: "secondary", testid: "my-refresh" }, "Check again");
  refreshBtn.addEventListener("click", () => checkNow(true));
  const myPanel = h(
    "section",
    { class: "card", testid: "my-record", hidden: true },
    myLesson,
    myStatus,
    myReason,
    myTime,
    myWatch,
    h("div", { class: "row" }, retryBtn, refreshBtn),
  );

  function showRecord(r: AttendanceRecord) {
    const s = statusOf(r);
    myStatus.dataset["status"] = s;
    myStatus.className = `my-status status ${statusClass(s)}`;
    myStatus.textContent =
      s === "ATTENDED"
        ? "✔ Attended — you are checked in."
        : s === "PENDING"
          ? "… Pending — your face check is running."
          : s === "FAILED"
            ? "✘ Failed — you are not checked in."
            : s === "EXCUSED"
              ? "Excused — your teacher excused you from this session."
              : s === "NOT_CHECKED_IN"
                ? "Not checked in yet."
                : s === "ABSENT"
                  ? "Absent — you did not check in."
                  : "Deleted by your teacher.";
    myReason.textContent = s === "DELETED" ? r.deletionReason : describeReason(r);
    myTime.textContent = r.attendanceTime ? `At ${formatTime(timestampDate(r.attendanceTime))}` : "";
    // An earlier failed attempt may be retried.
    retryBtn.hidden = s !== "FAILED";
  }

  function showWatchState(s: WatchState) {
    // A quiet re-check after "waiting" needn't flash "Connecting…".
    if (s.kind === "connecting" && s.attempt === 0 && myWatch.dataset["state"] === "waiting") return;
    if (s.kind === "live" && myWatch.dataset["state"] === "waiting") return;
    myWatch.dataset["state"] = s.kind;
    myWatch.textContent =
      s.kind === "live"
        ? "● Live updates on"
        : s.kind === "connecting"
          ? "Connecting…"
          : s.kind === "retrying"
            ? `Connection lost${s.error ? ` (${describeError(s.error)})` : ""} — retrying in ${Math.ceil(s.delayMs / 1000)} s`
            : s.kind === "waiting"
              ? "✓ Up to date. Your teacher's later changes show when you come back to this page or press “Check again”."
              : s.kind === "ended"
                ? "Final — no more updates."
                : "Live updates stopped.";
    if (s.kind === "failed") ctx.showError(s.error);
  }

  /** `quiet`: restoring after a reload; a record that is gone is just forgotten. */
  function follow(c: Current, first: AttendanceRecord | undefined, quiet = false) {
    current = c;
    rememberCurrent(c);
    watch?.abort();
    watch = new AbortController();
    myPanel.hidden = false;
    myPanel.dataset["attendanceId"] = c.attendanceId;
    myLesson.textContent = c.lessonName;
    if (first) showRecord(first);
    else {
      delete myStatus.dataset["status"];
      myStatus.textContent = "Loading…";
      myReason.textContent = "";
      myTime.textContent = "";
      retryBtn.hidden = true;
    }
    last = first;
    void watchWithRetry({
      signal: watch.signal,
      sleep: wakeableSleep,
      open: (signal) => ctx.api.student.watchMyRecord({ attendanceId: c.attendanceId }, { signal }),
      onMessage: (msg) => {
        if (msg.record) {
          last = msg.record;
          showRecord(msg.record);
        }
      },
      // The server ends the stream once the record is final. Ended while still
      // pending: a drop, reopen. Final: the teacher may still accept or fail
      // it, so look again now and then while the session is recent (and at
      // once when the student comes back to the page or asks: checkNow).
      reconnectAfterEnd: () => {
        if (!last) return false;
        if (statusOf(last) === "PENDING") return true;
        if (c.endTimeMs && Date.now() > c.endTimeMs + RECHECK_AFTER_END_MS) return false;
        return ctx.options.recheckMs;
      },
      onState: (s) => {
        if (quiet && s.kind === "failed" && s.error.code === Code.NotFound) {
          forget();
          return;
        }
        if (s.kind === "live") quiet = false;
        showWatchState(s);
      },
    });
  }

  function wakeableSleep(ms: number, signal: AbortSignal): Promise<void> {
    const cut = new AbortController();
    const stop = () => cut.abort();
    signal.addEventListener("abort", stop, { once: true });
    wake = stop;
    return abortableSleep(ms, cut.signal).finally(() => {
      signal.removeEventListener("abort", stop);
      if (wake === stop) wake = undefined;
    });
  }

  /**
   * Looks at the record again now: ends the watch's wait, or (`asked`: the
   * student pressed "Check again") reopens a watch that has stopped.
   */
  function checkNow(asked: boolean) {
    if (!current) return;
    const state = myWatch.dataset["state"];
    if (state === "live" || state === "connecting") return;
    if (wake) wake();
    else if (asked) follow(current, last);
  }

  const onFocus = () => checkNow(false);
  const onVisible = () => document.visibilityState === "visible" && checkNow(false);
  window.addEventListener("focus", onFocus);
  document.addEventListener("visibilitychange", onVisible);

  function forget() {
    watch?.abort();
    current = undefined;
    rememberCurrent(undefined);
    myPanel.hidden = true;
  }

  // --- scanning the projector's QR -------------------------------------------
  const scanBtn = h("button", { type: "button", testid: "scan-qr", hidden: true }, "Scan the projector's QR");
  const scanUnavailable = h("p", { class: "hint", testid: "scan-unavailable", hidden: true });
  const scanSlot = h("div", { testid: "scan-slot" });
  let scanner: QrScanner | undefined;
  /** This browser can scan (known once qrScanSupport answers). */
  let canScan = false;

  function closeScanner() {
    scanner?.stop();
    scanner = undefined;
    scanSlot.replaceChildren();
    scanBtn.disabled = false;
  }

  function startScan() {
    ctx.clearMessages();
    closeScanner();
    closeSelfie();
    scanBtn.disabled = true;
    const s = createQrScanner({
      onText: (raw) => {
        const scanned = scannedCheckInLink(raw, location.origin, location.pathname);
        closeScanner();
        // Never opened or navigated to: a refused link is only named.
        if (scanned.ok) openLink(scanned);
        else ctx.showMessage(scanned.reason, "QR_REFUSED");
        return true;
      },
      onError: (msg) => ctx.showMessage(msg, "CAMERA"),
      onClose: () => {
        if (scanner === s) closeScanner();
      },
    });
    scanner = s;
    scanSlot.replaceChildren(s.element);
    s.element.scrollIntoView?.({ block: "nearest" });
    void s.start();
  }
  scanBtn.addEventListener("click", startScan);

  void qrScanSupport().then((support) => {
    if (page.signal.aborted) return;
    canScan = support.ok;
    scanBtn.hidden = !support.ok;
    scanUnavailable.hidden = support.ok;
    scanUnavailable.textContent = support.ok ? "" : support.why;
  });

  root.append(
    h(
      "section",
      { class: "card", testid: "student-page" },
      h("h2", null, "Check in"),
      h("div", { class: "row scan-row" }, scanBtn, scanUnavailable),
      h(
        "form",
        { class: "inline", testid: "search-form", onsubmit: (ev: SubmitEvent) => void search(ev) },
        h("label", null, "Lesson", lesson),
        h("label", null, "Teacher", teacher),
        searchBtn,
      ),
      results,
      noResults,
    ),
    scanSlot,
    selfieSlot,
    myPanel,
    studentCourses(ctx, page.signal, browserTimeZone()),
  );

  /**
   * A check-in link, from the address bar or the projector's QR scanned here:
   * the attend panel for its session, with its code filled in.
   */
  function openLink(link: { attendanceId: string; code: string }) {
    const known = found.get(link.attendanceId);
    if (known) {
      // Found by search: its lesson name, and a selfie panel too for option 3.
      startAttend({ ...known, requireCheckInCode: true }, undefined, link.code);
      return;
    }
    const remembered = recallCurrent();
    const same = remembered?.attendanceId === link.attendanceId;
    startAttend(
      {
        attendanceId: link.attendanceId,
        lessonName: same ? remembered.lessonName : "the session on the projector",
        securityOption: same ? remembered.securityOption : SecurityOption.UNSPECIFIED,
        endTimeMs: 0,
        requireCode: true,
      },
      undefined,
      link.code,
    );
  }

  const link = checkInLink(location.search);
  const remembered = recallCurrent();
  if (link) {
    // Once read, the link leaves the address bar, so a reload does not reopen it.
    history.replaceState(history.state, "", location.pathname + location.hash);
    openLink(link);
  } else if (remembered) follow(remembered, undefined, true);

  return () => {
    page.abort();
    watch?.abort();
    closeScanner();
    closeSelfie();
    window.removeEventListener("focus", onFocus);
    document.removeEventListener("visibilitychange", onVisible);
  };
}

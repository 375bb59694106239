// The teacher's roster as a pure reducer over WatchRecords events: a snapshot
// replaces everything; a record event upserts one line by student_number (so
// a check-in replaces a course session's "not checked in" line); an
// attendance event replaces the session.
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AttendanceState, type Attendance, type AttendanceRecord } from "./gen/attn/v1/common_pb.js";
import type { WatchRecordsResponse } from "./gen/attn/v1/teacher_pb.js";
import { statusOf, type StatusName } from "./records.js";

export interface RosterState {
  attendance: Attendance | undefined;
  /** Keyed by student_number. */
  records: ReadonlyMap<string, AttendanceRecord>;
  /** True once a snapshot has been applied. */
  loaded: boolean;
}

export type RosterEvent = WatchRecordsResponse["event"];

export const emptyRoster: RosterState = { attendance: undefined, records: new Map(), loaded: false };

function belongs(state: RosterState, attendanceId: string): boolean {
  const current = state.attendance?.attendanceId;
  return !current || !attendanceId || attendanceId === current;
}

export function upsertRecord(state: RosterState, record: AttendanceRecord): RosterState {
  if (!record.studentNumber || !belongs(state, record.attendanceId)) return state;
  const records = new Map(state.records);
  records.set(record.studentNumber, record);
  return { ...state, records };
}

export function applyRosterEvent(state: RosterState, event: RosterEvent): RosterState {
  switch (event.case) {
    case "snapshot": {
      const records = new Map<string, AttendanceRecord>();
      for (const r of event.value.records) {
        if (r.studentNumber) records.set(r.studentNumber, r);
      }
      return { attendance: event.value.attendance ?? state.attendance, records, loaded: true };
    }
    case "record":
      return upsertRecord(state, event.value);
    case "attendance":
      if (!belongs(state, event.value.attendanceId)) return state;
      return { ...state, attendance: event.value };
    default:
      return state;
  }
}

export interface RosterCounts {
  attended: number;
  pending: number;
  failed: number;
  /** A course session's enrolled students with no check-in: not checked in (open) or absent (ended). */
  notCheckedIn: number;
  excused: number;
  deleted: number;
  /** Every line that is not deleted. */
  total: number;
}

export function rosterCounts(state: RosterState): RosterCounts {
  const c: RosterCounts = { attended: 0, pending: 0, failed: 0, notCheckedIn: 0, excused: 0, deleted: 0, total: 0 };
  for (const r of state.records.values()) {
    const s = statusOf(r);
    if (s === "ATTENDED") c.attended++;
    else if (s === "PENDING") c.pending++;
    else if (s === "FAILED") c.failed++;
    else if (s === "NOT_CHECKED_IN" || s === "ABSENT") c.notCheckedIn++;
    else if (s === "EXCUSED") c.excused++;
    else c.deleted++;
    if (s !== "DELETED") c.total++;
  }
  return c;
}

/**
 * True once check-in has closed: the session is no longer OPEN, or its end
 * time has passed (the server counts an open session past its end time as
 * ended, and may not say so until it is finished or archived).
 */
export function sessionHasEnded(a: Attendance | undefined, nowMs: number): boolean {
  if (!a) return false;
  if (a.state !== AttendanceState.OPEN && a.state !== AttendanceState.UNSPECIFIED) return true;
  return !!a.endTime && timestampMs(a.endTime) <= nowMs;
}

/**
 * Milliseconds until an open session's end time (when its "not checked in"
 * lines become absent); undefined once ended or without an end time.
 */
export function msUntilEnd(a: Attendance | undefined, nowMs: number): number | undefined {
  if (!a?.endTime || sessionHasEnded(a, nowMs)) return undefined;
  return timestampMs(a.endTime) - nowMs;
}

/**
 * The status a roster line shows: the server's, except that a "not checked
 * in" line of a session that has ended since (its end time passed while the
 * page was open) shows as absent, as the server would now send it.
 */
export function displayStatus(r: AttendanceRecord, a: Attendance | undefined, nowMs: number): StatusName {
  const s = statusOf(r);
  return s === "NOT_CHECKED_IN" && sessionHasEnded(a, nowMs) ? "ABSENT" : s;
}

/** Lines in a stable order: by student number (numeric-aware). */
export function sortedRecords(state: RosterState): AttendanceRecord[] {
  return [...state.records.values()].sort((a, b) =>
    a.studentNumber.localeCompare(b.studentNumber, undefined, { numeric: true }),
  );
}

/** The server stops the roster stream once the session is archived or deleted. */
export function isSessionClosedForGood(a: Attendance | undefined): boolean {
  return !!a && (a.state === AttendanceState.ARCHIVED || a.state === AttendanceState.DELETED);
}

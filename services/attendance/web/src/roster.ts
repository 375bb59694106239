// The teacher's roster as a pure reducer over WatchRecords events: a snapshot
// replaces everything; a record event upserts one line by student_number; an
// attendance event replaces the session.
import { AttendanceState, type Attendance, type AttendanceRecord } from "./gen/attn/v1/common_pb.js";
import type { WatchRecordsResponse } from "./gen/attn/v1/teacher_pb.js";
import { statusOf } from "./records.js";

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
  deleted: number;
  /** Every record that is not deleted. */
  total: number;
}

export function rosterCounts(state: RosterState): RosterCounts {
  const c: RosterCounts = { attended: 0, pending: 0, failed: 0, deleted: 0, total: 0 };
  for (const r of state.records.values()) {
    const s = statusOf(r);
    if (s === "ATTENDED") c.attended++;
    else if (s === "PENDING") c.pending++;
    else if (s === "FAILED") c.failed++;
    else c.deleted++;
    if (s !== "DELETED") c.total++;
  }
  return c;
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

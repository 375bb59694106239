import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import {
  AttendanceRecordSchema,
  AttendanceSchema,
  AttendanceState,
  RecordStatus,
  type AttendanceRecord,
} from "./gen/attn/v1/common_pb.js";
import { RosterSnapshotSchema } from "./gen/attn/v1/teacher_pb.js";
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
  type RosterEvent,
  type RosterState,
} from "./roster.js";
import { describeReason, statusClass, statusOf, STATUS_LABEL } from "./records.js";

const A = "7b0c1c8e-0000-4000-8000-000000000001";
const attendance = create(AttendanceSchema, { attendanceId: A, lessonName: "CS101", state: AttendanceState.OPEN });

type Extra = { attendanceId?: string; failReason?: string; isAttended?: boolean; isDeleted?: boolean; excuseReason?: string };

function rec(sn: string, status: RecordStatus, extra: Extra = {}): AttendanceRecord {
  return create(AttendanceRecordSchema, {
    attendanceId: A,
    studentNumber: sn,
    studentFullName: `Student ${sn}`,
    status,
    isAttended: status === RecordStatus.ATTENDED,
    ...extra,
  });
}

function snapshot(...records: AttendanceRecord[]): RosterEvent {
  return { case: "snapshot", value: create(RosterSnapshotSchema, { attendance, records }) };
}

const apply = (s: RosterState, ...events: RosterEvent[]) => events.reduce(applyRosterEvent, s);

describe("roster reducer", () => {
  it("starts empty and not loaded", () => {
    expect(emptyRoster.loaded).toBe(false);
    expect(rosterCounts(emptyRoster)).toEqual({ attended: 0, pending: 0, failed: 0, notCheckedIn: 0, excused: 0, deleted: 0, total: 0 });
  });

  it("applies a snapshot", () => {
    const s = apply(emptyRoster, snapshot(rec("s2", RecordStatus.ATTENDED), rec("s1", RecordStatus.PENDING)));
    expect(s.loaded).toBe(true);
    expect(s.attendance?.attendanceId).toBe(A);
    expect(sortedRecords(s).map((r) => r.studentNumber)).toEqual(["s1", "s2"]);
    expect(rosterCounts(s)).toMatchObject({ attended: 1, pending: 1, failed: 0, total: 2 });
  });

  it("adds and replaces records by student_number", () => {
    let s = apply(emptyRoster, snapshot(rec("s1", RecordStatus.PENDING)));
    s = apply(s, { case: "record", value: rec("s2", RecordStatus.FAILED, { failReason: "WIFI_FAILED" }) });
    expect(rosterCounts(s)).toMatchObject({ pending: 1, failed: 1, total: 2 });
    s = apply(s, { case: "record", value: rec("s1", RecordStatus.ATTENDED) });
    expect(s.records.size).toBe(2);
    expect(rosterCounts(s)).toMatchObject({ attended: 1, pending: 0, failed: 1, total: 2 });
    s = apply(s, { case: "record", value: rec("s2", RecordStatus.DELETED, { isDeleted: true }) });
    expect(rosterCounts(s)).toEqual({ attended: 1, pending: 0, failed: 0, notCheckedIn: 0, excused: 0, deleted: 1, total: 1 });
  });

  it("does not mutate the previous state", () => {
    const s1 = apply(emptyRoster, snapshot(rec("s1", RecordStatus.PENDING)));
    const s2 = apply(s1, { case: "record", value: rec("s1", RecordStatus.ATTENDED) });
    expect(statusOf(s1.records.get("s1")!)).toBe("PENDING");
    expect(statusOf(s2.records.get("s1")!)).toBe("ATTENDED");
    expect(s1.records).not.toBe(s2.records);
  });

  it("a new snapshot replaces the whole roster (after a reconnect)", () => {
    let s = apply(emptyRoster, snapshot(rec("s1", RecordStatus.PENDING), rec("s2", RecordStatus.PENDING)));
    s = apply(s, snapshot(rec("s3", RecordStatus.ATTENDED)));
    expect([...s.records.keys()]).toEqual(["s3"]);
    expect(rosterCounts(s).total).toBe(1);
  });

  it("record events before the snapshot still land", () => {
    const s = apply({ ...emptyRoster, attendance }, { case: "record", value: rec("s9", RecordStatus.ATTENDED) });
    expect(s.records.get("s9")?.studentFullName).toBe("Student s9");
    expect(s.loaded).toBe(false);
  });

  it("ignores records of another session and records without a student number", () => {
    const s = apply(emptyRoster, snapshot());
    expect(apply(s, { case: "record", value: rec("x", RecordStatus.ATTENDED, { attendanceId: "other" }) })).toBe(s);
    expect(apply(s, { case: "record", value: rec("", RecordStatus.ATTENDED) })).toBe(s);
    expect(upsertRecord(s, rec("", RecordStatus.ATTENDED))).toBe(s);
  });

  it("applies attendance events (finished, archived) and keeps the records", () => {
    let s = apply(emptyRoster, snapshot(rec("s1", RecordStatus.ATTENDED)));
    const finished = create(AttendanceSchema, { attendanceId: A, lessonName: "CS101", state: AttendanceState.ENDED });
    s = apply(s, { case: "attendance", value: finished });
    expect(s.attendance?.state).toBe(AttendanceState.ENDED);
    expect(s.records.size).toBe(1);
    expect(isSessionClosedForGood(s.attendance)).toBe(false);
    s = apply(s, { case: "attendance", value: create(AttendanceSchema, { ...finished, state: AttendanceState.ARCHIVED }) });
    expect(isSessionClosedForGood(s.attendance)).toBe(true);
    const other = create(AttendanceSchema, { attendanceId: "other", state: AttendanceState.DELETED });
    expect(apply(s, { case: "attendance", value: other })).toBe(s);
  });

  it("ignores an empty event", () => {
    const s = apply(emptyRoster, snapshot());
    expect(apply(s, { case: undefined })).toBe(s);
  });

  it("sorts student numbers numerically", () => {
    const s = apply(
      emptyRoster,
      snapshot(rec("demo_student_10", 1), rec("demo_student_2", 1), rec("demo_student_1", 1)),
    );
    expect(sortedRecords(s).map((r) => r.studentNumber)).toEqual(["demo_student_1", "demo_student_2", "demo_student_10"]);
  });
});

describe("a course session's roster", () => {
  it("counts not-checked-in, absent and excused lines apart", () => {
    const s = apply(
      emptyRoster,
      snapshot(
        rec("s1", RecordStatus.ATTENDED),
        rec("s2", RecordStatus.PENDING),
        rec("s3", RecordStatus.FAILED),
        rec("s4", RecordStatus.NOT_CHECKED_IN),
        rec("s5", RecordStatus.ABSENT),
        rec("s6", RecordStatus.EXCUSED, { excuseReason: "Doctor's note" }),
        rec("s7", RecordStatus.DELETED, { isDeleted: true }),
      ),
    );
    expect(rosterCounts(s)).toEqual({ attended: 1, pending: 1, failed: 1, notCheckedIn: 2, excused: 1, deleted: 1, total: 6 });
  });

  it("a check-in replaces the student's not-checked-in line, live", () => {
    let s = apply(emptyRoster, snapshot(rec("s1", RecordStatus.NOT_CHECKED_IN), rec("s2", RecordStatus.NOT_CHECKED_IN)));
    expect(rosterCounts(s)).toMatchObject({ attended: 0, notCheckedIn: 2, total: 2 });
    s = apply(s, { case: "record", value: rec("s1", RecordStatus.ATTENDED) });
    expect(s.records.size).toBe(2);
    expect(rosterCounts(s)).toMatchObject({ attended: 1, notCheckedIn: 1, total: 2 });
    s = apply(s, { case: "record", value: rec("s2", RecordStatus.EXCUSED, { excuseReason: "Sports day" }) });
    expect(rosterCounts(s)).toMatchObject({ attended: 1, notCheckedIn: 0, excused: 1, total: 2 });
  });

  it("shows a not-checked-in line as absent once the session has ended, by state or by end time", () => {
    const now = 1_000_000;
    const open = create(AttendanceSchema, { ...attendance, endTime: timestampFromMs(now + 60_000) });
    const line = rec("s1", RecordStatus.NOT_CHECKED_IN);
    expect(sessionHasEnded(open, now)).toBe(false);
    expect(displayStatus(line, open, now)).toBe("NOT_CHECKED_IN");
    expect(msUntilEnd(open, now)).toBe(60_000);
    // The end time passes while the page is open.
    expect(sessionHasEnded(open, now + 60_000)).toBe(true);
    expect(displayStatus(line, open, now + 60_000)).toBe("ABSENT");
    expect(msUntilEnd(open, now + 60_000)).toBeUndefined();
    // Finished early, or archived.
    const finished = create(AttendanceSchema, { ...open, state: AttendanceState.ENDED });
    expect(displayStatus(line, finished, now)).toBe("ABSENT");
    expect(displayStatus(line, create(AttendanceSchema, { ...open, state: AttendanceState.ARCHIVED }), now)).toBe("ABSENT");
    expect(msUntilEnd(finished, now)).toBeUndefined();
    // Other lines keep their status.
    expect(displayStatus(rec("s2", RecordStatus.ATTENDED), finished, now)).toBe("ATTENDED");
    expect(displayStatus(rec("s3", RecordStatus.EXCUSED), finished, now)).toBe("EXCUSED");
    // No session or no end time: nothing has ended.
    expect(sessionHasEnded(undefined, now)).toBe(false);
    expect(displayStatus(line, attendance, now)).toBe("NOT_CHECKED_IN");
    expect(msUntilEnd(attendance, now)).toBeUndefined();
  });

  it("words the new lines: labels, CSS classes and the excuse reason", () => {
    expect(STATUS_LABEL.NOT_CHECKED_IN).toBe("Not checked in");
    expect(STATUS_LABEL.ABSENT).toBe("Absent");
    expect(STATUS_LABEL.EXCUSED).toBe("Excused");
    expect(statusClass("NOT_CHECKED_IN")).toBe("not-checked-in");
    expect(statusClass("EXCUSED")).toBe("excused");
    expect(describeReason(rec("s1", RecordStatus.EXCUSED, { excuseReason: " Doctor's note " }))).toBe("Excused: Doctor's note");
    expect(describeReason(rec("s1", RecordStatus.EXCUSED))).toBe("Excused");
    expect(describeReason(rec("s1", RecordStatus.NOT_CHECKED_IN))).toBe("");
    expect(describeReason(rec("s1", RecordStatus.ABSENT))).toBe("");
  });
});

describe("statusOf", () => {
  it("uses the server's status", () => {
    expect(statusOf(rec("a", RecordStatus.FAILED, { isAttended: true }))).toBe("FAILED");
    expect(statusOf(rec("a", RecordStatus.NOT_CHECKED_IN))).toBe("NOT_CHECKED_IN");
    expect(statusOf(rec("a", RecordStatus.ABSENT))).toBe("ABSENT");
    expect(statusOf(rec("a", RecordStatus.EXCUSED))).toBe("EXCUSED");
  });
  it("derives it from the raw fields when unset", () => {
    const u = RecordStatus.UNSPECIFIED;
    expect(statusOf(rec("a", u, { isAttended: true }))).toBe("ATTENDED");
    expect(statusOf(rec("a", u, { failReason: "FACE_RECOGNITION_PENDING" }))).toBe("PENDING");
    expect(statusOf(rec("a", u, { failReason: "WIFI_FAILED" }))).toBe("FAILED");
    expect(statusOf(rec("a", u, { isAttended: true, isDeleted: true }))).toBe("DELETED");
  });
});

import { create } from "@bufbuild/protobuf";
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
  emptyRoster,
  isSessionClosedForGood,
  rosterCounts,
  sortedRecords,
  upsertRecord,
  type RosterEvent,
  type RosterState,
} from "./roster.js";
import { statusOf } from "./records.js";

const A = "7b0c1c8e-0000-4000-8000-000000000001";
const attendance = create(AttendanceSchema, { attendanceId: A, lessonName: "CS101", state: AttendanceState.OPEN });

type Extra = { attendanceId?: string; failReason?: string; isAttended?: boolean; isDeleted?: boolean };

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
    expect(rosterCounts(emptyRoster)).toEqual({ attended: 0, pending: 0, failed: 0, deleted: 0, total: 0 });
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
    expect(rosterCounts(s)).toEqual({ attended: 1, pending: 0, failed: 0, deleted: 1, total: 1 });
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

describe("statusOf", () => {
  it("uses the server's status", () => {
    expect(statusOf(rec("a", RecordStatus.FAILED, { isAttended: true }))).toBe("FAILED");
  });
  it("derives it from the raw fields when unset", () => {
    const u = RecordStatus.UNSPECIFIED;
    expect(statusOf(rec("a", u, { isAttended: true }))).toBe("ATTENDED");
    expect(statusOf(rec("a", u, { failReason: "FACE_RECOGNITION_PENDING" }))).toBe("PENDING");
    expect(statusOf(rec("a", u, { failReason: "WIFI_FAILED" }))).toBe("FAILED");
    expect(statusOf(rec("a", u, { isAttended: true, isDeleted: true }))).toBe("DELETED");
  });
});

import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describe, expect, it } from "vitest";
import { AttendanceRecordSchema, RecordStatus, FailCode } from "./gen/attn/v1/common_pb.js";
import { AuditAction, AuditEventSchema, RecordChangeSchema } from "./gen/attn/v1/teacher_pb.js";
import { recordHistory } from "./audit.js";

const attended = create(AttendanceRecordSchema, { studentNumber: "s1", status: RecordStatus.ATTENDED, isAttended: true });
const failed = create(AttendanceRecordSchema, {
  studentNumber: "s1",
  status: RecordStatus.FAILED,
  failReason: "Not present in class",
  failCode: FailCode.TEACHER_DECISION,
});

function event(action: AuditAction, student: string, before: typeof attended | undefined, after: typeof attended, ms: number, reason = "") {
  return create(AuditEventSchema, {
    actor: "demo_teacher_1",
    action,
    time: timestampFromMs(ms),
    studentNumber: student,
    reason,
    change: { case: "record", value: create(RecordChangeSchema, { before, after }) },
  });
}

describe("recordHistory", () => {
  it("keeps one student's events, oldest first, in words", () => {
    const events = [
      event(AuditAction.ADD_STUDENT, "s1", undefined, attended, 1_000, "phone died"),
      event(AuditAction.FAIL_STUDENT, "s2", attended, failed, 2_000),
      event(AuditAction.FAIL_STUDENT, "s1", attended, failed, 3_000, "left early"),
    ];
    const lines = recordHistory(events, "s1");
    expect(lines.map((l) => [l.what, l.change, l.reason, l.who])).toEqual([
      ["Added", "→ Attended", "phone died", "demo_teacher_1"],
      ["Failed", "Attended → Failed", "left early", "demo_teacher_1"],
    ]);
    expect(lines[0]!.when?.getTime()).toBe(1_000);
  });

  it("names the face check as the actor of a verdict and survives an action it does not know", () => {
    const verdict = create(AuditEventSchema, { actor: "face-gateway", action: AuditAction.FACE_CHECK_RESULT, studentNumber: "s1" });
    const newer = create(AuditEventSchema, { actor: "t", action: 99 as AuditAction, studentNumber: "s1" });
    const lines = recordHistory([verdict, newer], "s1");
    expect(lines.map((l) => [l.who, l.what, l.change])).toEqual([
      ["Face check", "Face verdict", ""],
      ["t", "Changed", ""],
    ]);
  });

  it("names an excuse, with the teacher's reason, also for an enrolled student who had no record", () => {
    const excused = create(AttendanceRecordSchema, { studentNumber: "s1", status: RecordStatus.EXCUSED, excuseReason: "Doctor's note" });
    const notCheckedIn = create(AttendanceRecordSchema, { studentNumber: "s1", status: RecordStatus.NOT_CHECKED_IN });
    const lines = recordHistory(
      [
        event(AuditAction.EXCUSE_STUDENT, "s1", undefined, excused, 1_000, "Doctor's note"),
        event(AuditAction.ACCEPT_STUDENT, "s1", excused, attended, 2_000),
        event(AuditAction.EXCUSE_STUDENT, "s1", notCheckedIn, excused, 3_000, "Sports day"),
      ],
      "s1",
    );
    expect(lines.map((l) => [l.what, l.change, l.reason])).toEqual([
      ["Excused", "→ Excused", "Doctor's note"],
      ["Accepted", "Excused → Attended", ""],
      ["Excused", "Not checked in → Excused", "Sports day"],
    ]);
  });

  it("shows nothing for a student nobody changed", () => {
    expect(recordHistory([event(AuditAction.ACCEPT_STUDENT, "s2", failed, attended, 1)], "s1")).toEqual([]);
  });
});

// A record's history for the teacher: the session's audit trail
// (TeacherService/ListAuditEvents) narrowed to one student, in words.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { AttendanceRecord } from "./gen/attn/v1/common_pb.js";
import { AuditAction, type AuditEvent } from "./gen/attn/v1/teacher_pb.js";
import { statusOf, STATUS_LABEL } from "./records.js";

export const AUDIT_ACTION_LABEL: Record<AuditAction, string> = {
  [AuditAction.UNSPECIFIED]: "Changed",
  [AuditAction.ACCEPT_STUDENT]: "Accepted",
  [AuditAction.FAIL_STUDENT]: "Failed",
  [AuditAction.ADD_STUDENT]: "Added",
  [AuditAction.DELETE_RECORD]: "Deleted",
  [AuditAction.FINISH_ATTENDANCE]: "Session finished",
  [AuditAction.DELETE_ATTENDANCE]: "Session deleted",
  [AuditAction.FACE_CHECK_RESULT]: "Face verdict",
  [AuditAction.EXCUSE_STUDENT]: "Excused",
};

export interface HistoryLine {
  when: Date | undefined;
  who: string;
  what: string;
  /** "Attended → Failed", or "→ Attended" for a record that did not exist (an enrolled student's first edit, AddStudent). */
  change: string;
  reason: string;
}

function statusLabel(r: AttendanceRecord | undefined): string {
  return r ? STATUS_LABEL[statusOf(r)] : "";
}

/** The events about one student's record, oldest first, as lines to show. */
export function recordHistory(events: readonly AuditEvent[], studentNumber: string): HistoryLine[] {
  return events
    .filter((e) => e.studentNumber === studentNumber)
    .map((e) => {
      const change = e.change.case === "record" ? `${statusLabel(e.change.value.before)} → ${statusLabel(e.change.value.after)}`.trim() : "";
      return {
        when: e.time ? timestampDate(e.time) : undefined,
        who: e.actor === "face-gateway" ? "Face check" : e.actor,
        what: AUDIT_ACTION_LABEL[e.action] ?? AUDIT_ACTION_LABEL[AuditAction.UNSPECIFIED],
        change,
        reason: e.reason,
      };
    });
}

// What a record's state means, in words.
import { FailCode, RecordStatus, SecurityOption, type AttendanceRecord } from "./gen/attn/v1/common_pb.js";

export const FACE_PENDING = "FACE_RECOGNITION_PENDING";

export type StatusName = "ATTENDED" | "PENDING" | "FAILED" | "DELETED" | "NOT_CHECKED_IN" | "ABSENT" | "EXCUSED";

/** The record's status; derived from the raw fields if the server left it unset. */
export function statusOf(r: AttendanceRecord): StatusName {
  switch (r.status) {
    case RecordStatus.ATTENDED:
      return "ATTENDED";
    case RecordStatus.PENDING:
      return "PENDING";
    case RecordStatus.FAILED:
      return "FAILED";
    case RecordStatus.DELETED:
      return "DELETED";
    case RecordStatus.NOT_CHECKED_IN:
      return "NOT_CHECKED_IN";
    case RecordStatus.ABSENT:
      return "ABSENT";
    case RecordStatus.EXCUSED:
      return "EXCUSED";
    default:
      if (r.isDeleted) return "DELETED";
      if (r.isAttended) return "ATTENDED";
      if (r.failReason === FACE_PENDING) return "PENDING";
      return "FAILED";
  }
}

export const STATUS_LABEL: Record<StatusName, string> = {
  ATTENDED: "Attended",
  PENDING: "Pending",
  FAILED: "Failed",
  DELETED: "Deleted",
  NOT_CHECKED_IN: "Not checked in",
  ABSENT: "Absent",
  EXCUSED: "Excused",
};

/** The status as a CSS class name: "not-checked-in", "excused", … */
export function statusClass(s: StatusName): string {
  return s.toLowerCase().replace(/_/g, "-");
}

/** True once nothing more will happen to the record without a person acting. */
export function isFinal(r: AttendanceRecord): boolean {
  return statusOf(r) !== "PENDING";
}

const REASONS: Partial<Record<FailCode, string>> = {
  [FailCode.WIFI_FAILED]: "Not on the classroom network.",
  [FailCode.WIFI_REQUIRED_BUT_IP_MISSING]: "The classroom network could not be checked (no client address).",
  [FailCode.FACE_VERIFICATION_REQUIRED_BUT_IMAGES_MISSING]: "This session needs a selfie.",
  [FailCode.REFERENCE_IMAGE_NOT_FOUND]: "There is no reference photo on file for this student.",
  [FailCode.FACE_VERIFICATION_SUBMISSION_FAILED]: "The face check could not be started. Try again.",
  [FailCode.FACE_VERIFICATION_TIMED_OUT]: "The face check took too long. Try again.",
  [FailCode.CHECK_IN_CODE_INVALID]: "The check-in code was missing, wrong or no longer current. Enter the code shown on the projector now and send again.",
};

const FACE_FAILED_PREFIX = "FACE_VERIFICATION_FAILED:";

/**
 * Why a record failed, in words, chosen by its fail_code (never by matching
 * the text): a teacher's decision is shown in the teacher's own words, a
 * failed face match with the gateway's words after its prefix; an excused
 * student's line says so, with the teacher's reason.
 */
export function describeReason(r: AttendanceRecord): string {
  const s = statusOf(r);
  if (s === "PENDING") return "Face check in progress…";
  if (s === "EXCUSED") return r.excuseReason.trim() ? `Excused: ${r.excuseReason.trim()}` : "Excused";
  if (s === "NOT_CHECKED_IN" || s === "ABSENT") return "";
  const text = r.failReason.trim();
  switch (r.failCode) {
    case FailCode.UNSPECIFIED:
    case FailCode.TEACHER_DECISION:
      return text;
    case FailCode.FACE_VERIFICATION_FAILED: {
      const words = text.startsWith(FACE_FAILED_PREFIX) ? text.slice(FACE_FAILED_PREFIX.length).trim() : "";
      return words ? `Face did not match: ${words}` : "Face did not match.";
    }
    default:
      return REASONS[r.failCode] ?? text;
  }
}

export const SECURITY_LABEL: Record<number, string> = {
  [SecurityOption.MANUAL]: "1 — manual",
  [SecurityOption.NETWORK]: "2 — classroom network",
  [SecurityOption.NETWORK_AND_FACE]: "3 — network + face",
};

export function securityLabel(o: SecurityOption): string {
  return SECURITY_LABEL[o] ?? "unspecified";
}

/** Splits a text box of CIDRs (commas, spaces or new lines) into a list. */
export function parseNetworks(text: string): string[] {
  return text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

/**
 * The browser's IANA time zone (e.g. "Europe/Istanbul"), sent with
 * StartAttendance so that reports give the session's dates in it; empty
 * (the server then uses UTC) where the browser does not say.
 */
export function browserTimeZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone ?? "";
  } catch {
    return "";
  }
}

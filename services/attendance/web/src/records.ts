// What a record's state means, in words.
import { RecordStatus, SecurityOption, type AttendanceRecord } from "./gen/attn/v1/common_pb.js";

export const FACE_PENDING = "FACE_RECOGNITION_PENDING";

export type StatusName = "ATTENDED" | "PENDING" | "FAILED" | "DELETED";

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
};

/** True once nothing more will happen to the record without a person acting. */
export function isFinal(r: AttendanceRecord): boolean {
  return statusOf(r) !== "PENDING";
}

const REASONS: Record<string, string> = {
  WIFI_FAILED: "Not on the classroom network.",
  WIFI_REQUIRED_BUT_IP_MISSING: "The classroom network could not be checked (no client address).",
  FACE_RECOGNITION_PENDING: "Face check in progress…",
  FACE_VERIFICATION_REQUIRED_BUT_IMAGES_MISSING: "This session needs a selfie.",
  REFERENCE_IMAGE_NOT_FOUND: "There is no reference photo on file for this student.",
  FACE_VERIFICATION_SUBMISSION_FAILED: "The face check could not be started. Try again.",
  FACE_VERIFICATION_TIMED_OUT: "The face check took too long. Try again.",
};

/** A fail_reason in words; the teacher's own words are shown as they are. */
export function describeReason(reason: string): string {
  const r = reason.trim();
  if (!r) return "";
  const known = REASONS[r];
  if (known) return known;
  const face = /^FACE_VERIFICATION_FAILED:\s*(.*)$/s.exec(r);
  if (face) return face[1] ? `Face did not match: ${face[1]}` : "Face did not match.";
  return r;
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

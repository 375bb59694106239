// Every failed call ends up here: one place that turns a gRPC status into a
// sentence a teacher or student can act on.
//
// ATTN sends a google.rpc.ErrorInfo with every error (README, "Error
// details"): its reason is a stable code, so the sentence for the common
// cases is chosen by the code, not by reading the English message.
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

/** The ErrorInfo domain ATTN's codes belong to. */
export const ERROR_DOMAIN = "attn.v1";

/**
 * The ErrorInfo reason ATTN sent with the error (e.g. "SESSION_ENDED"), if
 * any. Read straight off the wire (reason is field 1, domain field 2), so the
 * app needs no google.rpc descriptors.
 */
export function errorReason(err: unknown): string | undefined {
  const e = ConnectError.from(err);
  for (const detail of e.details) {
    if ("desc" in detail || detail.type !== "google.rpc.ErrorInfo") continue;
    try {
      const reader = new BinaryReader(detail.value);
      let reason = "";
      let domain = "";
      while (reader.pos < reader.len) {
        const [field, wireType] = reader.tag();
        if (field === 1 && wireType === WireType.LengthDelimited) reason = reader.string();
        else if (field === 2 && wireType === WireType.LengthDelimited) domain = reader.string();
        else reader.skip(wireType);
      }
      if (domain === ERROR_DOMAIN && reason) return reason;
    } catch {
      // A detail that does not decode says nothing; the code still does.
    }
  }
  return undefined;
}

/**
 * Sentences for the reasons a user meets often. `detail`: the server's own
 * message adds something (a wait, a limit) and is kept.
 */
const BY_REASON: Record<string, { text: string; detail?: boolean }> = {
  WRONG_CREDENTIALS: { text: "Wrong username or password. Please try again." },
  TOKEN_INVALID: { text: "Your sign-in has expired or ended. Please sign in again." },
  TOKEN_EXPIRED: { text: "Your sign-in has expired. Please sign in again." },
  SIGNED_OUT: { text: "You have been signed out. Please sign in again." },
  SESSION_NOT_FOUND: { text: "That attendance session was not found. It may never have existed or be someone else's." },
  SESSION_ENDED: { text: "This attendance session has ended; check-ins are closed." },
  SESSION_DELETED: { text: "This attendance session was deleted by its teacher." },
  ALREADY_CHECKED_IN: { text: "You have already checked in to this session." },
  ALREADY_PENDING: { text: "Your check-in is waiting for its face check; the result will appear here." },
  FAILED_BY_TEACHER: { text: "Your teacher marked this check-in as failed. Ask them to accept you." },
  RECORD_DELETED: { text: "Your teacher removed your record from this session. Ask them to add you." },
  EXCUSED: { text: "Your teacher has excused you from this session, so there is nothing to check in to. Ask them if that is a mistake." },
  TEACHER_HAS_OPEN_SESSION: { text: "You already have an active session. Finish it before starting another." },
  FACE_CHECKS_OFF: { text: "Face checks are not available on this server. Choose another security option." },
  RATE_LIMITED: { text: "Too many attempts. Please wait and try again.", detail: true },
  OVERLOADED: { text: "The server is busy signing others in. Please wait and try again.", detail: true },
  TOO_MANY_STREAMS: { text: "You have too many live views open. Close one (another tab?) and try again." },
};

/** Turns "lesson_name: is required" into "Lesson name: is required". */
export function humanizeFieldMessage(message: string): string {
  const m = /^([a-z][a-z0-9_.]*):\s*(.*)$/s.exec(message.trim());
  if (!m) return message.trim();
  const field = m[1]!.replace(/[._]/g, " ");
  return `${field.charAt(0).toUpperCase()}${field.slice(1)}: ${m[2]}`;
}

function stripEnd(text: string): string {
  return text.trim().replace(/[.\s]+$/, "");
}

function withDetail(lead: string, detail: string): string {
  const d = stripEnd(detail);
  return d ? `${lead} (${d}.)` : lead;
}

/** True when the fetch itself failed: no answer from any server at all. */
export function isNetworkFailure(err: ConnectError): boolean {
  return err.code === Code.Unknown && !err.isWireError && err.cause instanceof TypeError;
}

/**
 * A clear, plain-English message for any error a call can throw. The server's
 * own message (plain English by contract) is kept where it helps.
 */
export function describeError(err: unknown): string {
  const e = ConnectError.from(err);
  const msg = e.rawMessage;
  const known = BY_REASON[errorReason(e) ?? ""];
  if (known) return known.detail ? withDetail(known.text, msg) : known.text;
  switch (e.code) {
    case Code.InvalidArgument:
      return `Please check your input: ${stripEnd(humanizeFieldMessage(msg)) || "a value is not valid"}.`;
    case Code.Unauthenticated:
      return withDetail("You are not signed in or your session has expired. Please sign in again.", msg);
    case Code.PermissionDenied:
      return withDetail("You are not allowed to do that.", msg);
    case Code.NotFound:
      return withDetail("Not found: it may have ended, been deleted, or never existed.", msg);
    case Code.AlreadyExists:
      return withDetail("Already done: nothing was changed.", msg);
    case Code.FailedPrecondition:
      return withDetail("That can't be done right now.", msg);
    case Code.ResourceExhausted:
      return withDetail("Too many requests. Please wait a moment and try again.", msg);
    case Code.Unavailable:
      return withDetail("The attendance service is unavailable right now. Please try again in a moment.", msg);
    case Code.DeadlineExceeded:
      return "The server took too long to answer. Please try again.";
    case Code.Canceled:
      return "The request was cancelled.";
    case Code.Aborted:
      return withDetail("Your change clashed with another one. Please try again.", msg);
    case Code.OutOfRange:
      return withDetail("A value is out of range.", humanizeFieldMessage(msg));
    case Code.Unimplemented:
      return withDetail(
        "The server does not offer this operation. Check that the app is pointed at an ATTN server.",
        msg,
      );
    case Code.Internal:
      return withDetail("The server hit an internal error. Please try again; if it keeps happening, tell IT.", msg);
    case Code.DataLoss:
      return withDetail("Data was lost or damaged on the way. Please try again.", msg);
    case Code.Unknown:
    default:
      if (isNetworkFailure(e)) {
        return "Cannot reach the attendance service. Check your connection and try again.";
      }
      return withDetail("Something went wrong. Please try again.", msg);
  }
}

/**
 * The short code name shown next to a message: ATTN's reason when it sent
 * one (e.g. "SESSION_ENDED"), else the gRPC code's (e.g. "UNAVAILABLE").
 */
export function codeName(err: unknown): string {
  const e = ConnectError.from(err);
  const reason = errorReason(e);
  if (reason) return reason;
  return (Code[e.code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

// Every failed call ends up here: one place that turns a gRPC status into a
// sentence a teacher or student can act on.
import { Code, ConnectError } from "@connectrpc/connect";

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

/** The short code name shown next to a message, e.g. "UNAVAILABLE". */
export function codeName(err: unknown): string {
  const e = ConnectError.from(err);
  return (Code[e.code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

// The rotating check-in code: the link on the teacher's projector and what
// the student's page reads back from it.

/** `?attendance=<id>&code=<code>` from a check-in link, if it has both. */
export function checkInLink(search: string): { attendanceId: string; code: string } | undefined {
  const params = new URLSearchParams(search);
  const attendanceId = (params.get("attendance") ?? "").trim();
  const code = (params.get("code") ?? "").replace(/\s+/g, "");
  if (!attendanceId || !/^\d{6}$/.test(code)) return undefined;
  return { attendanceId, code };
}

/**
 * The link a code's QR carries: the server's (ATTN_PUBLIC_URL) if it sent
 * one, else this page's own address with the session and code.
 */
export function linkFor(qrPayload: string, origin: string, pathname: string, attendanceId: string, code: string): string {
  if (qrPayload) return qrPayload;
  const url = new URL(pathname || "/", origin);
  url.search = new URLSearchParams({ attendance: attendanceId, code }).toString();
  url.hash = "";
  return url.toString();
}

/** Whole seconds left until `untilMs`, never below 0. */
export function secondsLeft(untilMs: number, nowMs: number): number {
  return Math.max(0, Math.ceil((untilMs - nowMs) / 1000));
}

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

export type ScannedLink = { ok: true; attendanceId: string; code: string } | { ok: false; reason: string };

/** `/`, `/index.html` and `/attn/`, `/attn/index.html`: the same page. */
function pagePath(pathname: string): string {
  return pathname.replace(/\/index\.html$/, "/");
}

/**
 * A scanned QR code's text as a check-in link of this very app, or why it is
 * refused: only a link to this page (its origin and path) with a session and
 * a six-digit code is taken, and nothing scanned is ever opened or navigated
 * to. A QR code stuck over the projector's, pointing elsewhere, gets a clear
 * refusal.
 */
export function scannedCheckInLink(raw: string, origin: string, pathname: string): ScannedLink {
  const text = raw.trim();
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { ok: false, reason: "That QR code is not an ATTN check-in link. Scan the code on your teacher's projector, or type the six digits." };
  }
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.origin !== origin || pagePath(url.pathname) !== pagePath(pathname || "/")) {
    const where = url.protocol === "https:" || url.protocol === "http:" ? url.host + url.pathname : url.protocol.replace(/:$/, "") + " link";
    return {
      ok: false,
      reason: `That QR code points to ${shorten(where)}, not to this ATTN site (${new URL(origin).host}): it was not opened. Scan the code on your teacher's projector, or type the six digits.`,
    };
  }
  const link = checkInLink(url.search);
  if (!link) return { ok: false, reason: "That QR code opens ATTN but is not a check-in link (no session and six-digit code). Scan the code on your teacher's projector, or type the six digits." };
  return { ok: true, ...link };
}

function shorten(s: string, max = 60): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

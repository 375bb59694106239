// Attend's request_id: one per attempt, so a retried network call returns the
// first answer instead of checking in twice. 1 to 64 characters.

export const REQUEST_ID_MAX = 64;

function fallbackUuid(getRandomValues: (a: Uint8Array) => Uint8Array): string {
  const b = getRandomValues(new Uint8Array(16));
  b[6] = (b[6]! & 0x0f) | 0x40; // version 4
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A fresh random UUID. crypto.randomUUID exists only in secure contexts
 * (https or localhost); over plain http on a campus address fall back to
 * crypto.getRandomValues, which is always there.
 */
export interface RandomSource {
  randomUUID?: () => string;
  getRandomValues(a: Uint8Array): Uint8Array;
}

export function newRequestId(c: RandomSource = crypto): string {
  if (typeof c.randomUUID === "function") return c.randomUUID();
  return fallbackUuid((a) => c.getRandomValues(a));
}

export function isValidRequestId(id: string): boolean {
  return id.length >= 1 && id.length <= REQUEST_ID_MAX;
}

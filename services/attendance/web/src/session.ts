// The signed-in user, kept in sessionStorage: one tab, gone when it closes.
import { Role } from "./gen/attn/v1/common_pb.js";

export interface StoredSession {
  token: string;
  schoolNumber: string;
  fullName: string;
  role: Role;
  /** ms since epoch, 0 if unknown. */
  expiresAt: number;
}

const KEY = "attn.session";
/** The session a student last checked in to, so a reload keeps showing it. */
export const STUDENT_CURRENT_KEY = "attn.student.current";

export interface KeyValueStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

function storage(): KeyValueStore | undefined {
  try {
    return globalThis.sessionStorage;
  } catch {
    return undefined; // storage disabled
  }
}

export function loadSession(store: KeyValueStore | undefined = storage(), now = Date.now()): StoredSession | undefined {
  const raw = store?.getItem(KEY);
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw) as Partial<StoredSession>;
    if (typeof s.token !== "string" || !s.token || typeof s.role !== "number") return undefined;
    if (s.expiresAt && s.expiresAt <= now) {
      store?.removeItem(KEY);
      return undefined;
    }
    return {
      token: s.token,
      schoolNumber: String(s.schoolNumber ?? ""),
      fullName: String(s.fullName ?? ""),
      role: s.role,
      expiresAt: Number(s.expiresAt ?? 0),
    };
  } catch {
    return undefined;
  }
}

export function saveSession(s: StoredSession, store: KeyValueStore | undefined = storage()): void {
  store?.setItem(KEY, JSON.stringify(s));
}

export function clearSession(store: KeyValueStore | undefined = storage()): void {
  store?.removeItem(KEY);
  store?.removeItem(STUDENT_CURRENT_KEY);
}

/** The hash route a role lands on after sign-in. */
export function homeRouteFor(role: Role): string {
  switch (role) {
    case Role.TEACHER:
      return "#/teacher";
    case Role.STUDENT:
      return "#/student";
    case Role.ADMIN:
      return "#/admin";
    default:
      return "#/signin";
  }
}

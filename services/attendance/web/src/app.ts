// The shell: header, message banners, hash routing by role, sign-out.
import { Code, ConnectError } from "@connectrpc/connect";
import { createApi, grpcWebTransport, type Api, type TransportFactory } from "./api.js";
import type { ApiConfig } from "./config.js";
import { clear, h } from "./dom.js";
import { codeName, describeError } from "./errors.js";
import { Role } from "./gen/attn/v1/common_pb.js";
import { mountSignIn } from "./pages/signin.js";
import { mountStudent } from "./pages/student.js";
import { mountTeacher } from "./pages/teacher.js";
import { clearSession, homeRouteFor, loadSession, saveSession, type StoredSession } from "./session.js";

export interface AppOptions {
  /**
   * WatchMyRecord ends once a record is final, but a teacher can still
   * accept or fail it. The student page looks again when the student comes
   * back to the page (focus), asks (the "Check again" button), and otherwise
   * this rarely (ms): 500 students polling every few seconds would be
   * ~100 requests a second for nothing.
   */
  recheckMs: number;
}

export const DEFAULT_OPTIONS: AppOptions = { recheckMs: 60_000 };

export interface AppContext {
  api: Api;
  options: AppOptions;
  session(): StoredSession | undefined;
  signedIn(s: StoredSession): void;
  signOut(): Promise<void>;
  /** Shows any error as a clear message; an expired sign-in sends the user back to sign in. */
  showError(err: unknown): void;
  showMessage(text: string, code?: string): void;
  showInfo(text: string): void;
  clearMessages(): void;
}

/** A page draws itself into `root` and returns its clean-up (close streams, stop the camera). */
export type Page = (root: HTMLElement, ctx: AppContext) => () => void;

const ROLE_LABEL: Record<number, string> = {
  [Role.TEACHER]: "teacher",
  [Role.STUDENT]: "student",
  [Role.ADMIN]: "operator",
};

function mountAdmin(root: HTMLElement): () => void {
  root.append(
    h(
      "section",
      { class: "card", testid: "admin-page" },
      h("h2", null, "Operator"),
      h("p", null, "Operators manage ATTN with grpcurl (SweeperService, health, reflection). This browser app is for teachers and students."),
    ),
  );
  return () => undefined;
}

/** Starts the app in `mount`; returns a function that stops it (used by tests). */
export function startApp(
  mount: HTMLElement,
  config: ApiConfig,
  makeTransport: TransportFactory = grpcWebTransport,
  options: Partial<AppOptions> = {},
): () => void {
  let session = loadSession();
  const api = createApi(config.baseUrl, () => session?.token, makeTransport);

  const userBox = h("span", { class: "user", testid: "current-user" });
  const signOutBtn = h("button", { type: "button", class: "secondary", testid: "signout", hidden: true, onclick: () => void ctx.signOut() }, "Sign out");
  const errorText = h("span", { testid: "error-text" });
  const errorBanner = h(
    "div",
    { class: "banner error", role: "alert", testid: "error-banner", hidden: true },
    errorText,
    h("button", { type: "button", class: "link", testid: "error-dismiss", "aria-label": "Dismiss", onclick: () => (errorBanner.hidden = true) }, "×"),
  );
  const infoBanner = h("div", { class: "banner info", role: "status", testid: "info-banner", hidden: true });
  const page = h("main", { class: "page", testid: "page" });

  mount.replaceChildren(
    h("header", { class: "top" }, h("h1", null, "ATTN"), h("span", { class: "spacer" }), userBox, signOutBtn),
    errorBanner,
    infoBanner,
    page,
    h("footer", null, "API: ", h("code", { testid: "api-base-url" }, config.baseUrl), ` (${config.source})`),
  );

  let cleanup: (() => void) | undefined;
  let rendered: string | undefined;

  function renderHeader() {
    if (session) {
      userBox.textContent = `${session.fullName || session.schoolNumber} (${session.schoolNumber}, ${ROLE_LABEL[session.role] ?? "unknown role"})`;
      userBox.dataset["role"] = ROLE_LABEL[session.role] ?? "unknown";
      signOutBtn.hidden = false;
    } else {
      userBox.textContent = "";
      delete userBox.dataset["role"];
      signOutBtn.hidden = true;
    }
  }

  function route() {
    const wanted = location.hash || "#/";
    const target = session ? homeRouteFor(session.role) : "#/signin";
    // replaceState keeps the path and ?api=…, and fires no hashchange.
    if (wanted !== target) history.replaceState(history.state, "", target);
    render(target);
  }

  function render(target: string) {
    cleanup?.();
    cleanup = undefined;
    clear(page);
    renderHeader();
    rendered = target;
    page.dataset["route"] = target.slice(2);
    const mountPage: Page =
      target === "#/teacher" ? mountTeacher : target === "#/student" ? mountStudent : target === "#/admin" ? mountAdmin : mountSignIn;
    cleanup = mountPage(page, ctx);
  }

  function forgetSession() {
    session = undefined;
    clearSession();
  }

  const ctx: AppContext = {
    api,
    options: { ...DEFAULT_OPTIONS, ...options },
    session: () => session,
    signedIn(s) {
      session = s;
      saveSession(s);
      ctx.clearMessages();
      route();
    },
    async signOut() {
      cleanup?.();
      cleanup = undefined;
      if (session) {
        try {
          await api.auth.logout({}, { timeoutMs: 5000 });
        } catch (e) {
          // Signing out locally always works; the token expires on the server anyway.
          console.warn("Logout RPC failed", e);
        }
      }
      forgetSession();
      route();
      ctx.showInfo("You are signed out.");
    },
    showError(err) {
      const e = ConnectError.from(err);
      if (e.code === Code.Canceled) return; // we closed it ourselves
      if (e.code === Code.Unauthenticated && session) {
        forgetSession();
        route();
      }
      ctx.showMessage(describeError(e), codeName(e));
    },
    showMessage(text, code = "") {
      infoBanner.hidden = true;
      errorText.textContent = text;
      errorBanner.dataset["code"] = code;
      errorBanner.hidden = false;
    },
    showInfo(text) {
      infoBanner.textContent = text;
      infoBanner.hidden = false;
    },
    clearMessages() {
      errorBanner.hidden = true;
      errorText.textContent = "";
      delete errorBanner.dataset["code"];
      infoBanner.hidden = true;
    },
  };

  const onHashChange = () => {
    if (location.hash === rendered) return; // our own replaceState (some DOMs report it)
    ctx.clearMessages();
    route();
  };
  window.addEventListener("hashchange", onHashChange);
  route();
  return () => {
    window.removeEventListener("hashchange", onHashChange);
    cleanup?.();
    cleanup = undefined;
  };
}

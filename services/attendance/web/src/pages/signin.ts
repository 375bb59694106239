import { Code, ConnectError } from "@connectrpc/connect";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import type { AppContext } from "../app.js";
import { h } from "../dom.js";
import { codeName, describeError } from "../errors.js";
import { Role } from "../gen/attn/v1/common_pb.js";

export function mountSignIn(root: HTMLElement, ctx: AppContext): () => void {
  const controller = new AbortController();
  const username = h("input", { name: "username", testid: "signin-username", autocomplete: "username", required: true, autofocus: true });
  const password = h("input", { name: "password", type: "password", testid: "signin-password", autocomplete: "current-password", required: true });
  const submit = h("button", { type: "submit", testid: "signin-submit" }, "Sign in");

  async function onSubmit(ev: SubmitEvent) {
    ev.preventDefault();
    ctx.clearMessages();
    const user = username.value.trim();
    if (!user || !password.value) {
      ctx.showMessage("Please enter your school number and password.", "INVALID_ARGUMENT");
      return;
    }
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      const res = await ctx.api.auth.login({ username: user, password: password.value }, { signal: controller.signal });
      const u = res.user;
      if (!res.accessToken || !u) throw new ConnectError("the server sent no token or user", Code.Internal);
      if (u.role !== Role.TEACHER && u.role !== Role.STUDENT && u.role !== Role.ADMIN) {
        throw new ConnectError("this account has no teacher or student role", Code.PermissionDenied);
      }
      ctx.signedIn({
        token: res.accessToken,
        schoolNumber: u.schoolNumber || user,
        fullName: u.fullName,
        role: u.role,
        expiresAt: res.expiresAt ? timestampDate(res.expiresAt).getTime() : 0,
      });
    } catch (e) {
      if (controller.signal.aborted) return;
      const err = ConnectError.from(e);
      password.value = "";
      if (err.code === Code.Unauthenticated) {
        // Login's own "no": the only case where UNAUTHENTICATED doesn't mean an expired token.
        ctx.showMessage("Wrong school number or password.", codeName(err));
      } else {
        ctx.showMessage(describeError(err), codeName(err));
      }
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  }

  root.append(
    h(
      "section",
      { class: "card narrow", testid: "signin-page" },
      h("h2", null, "Sign in"),
      h(
        "form",
        { testid: "signin-form", onsubmit: (ev: SubmitEvent) => void onSubmit(ev) },
        h("label", null, "School number", username),
        h("label", null, "Password", password),
        submit,
      ),
      h("p", { class: "hint" }, "Teachers and students sign in with their school number."),
    ),
  );
  username.focus();
  return () => controller.abort();
}

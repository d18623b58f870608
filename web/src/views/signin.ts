import { api, ApiError, session } from "../api";
import { h, mount } from "../dom";

// Sign in with an API key: checked against /v1/users/me, then kept in this tab's session
// storage only (never a cookie, a URL or local storage).
export function signIn(root: HTMLElement, done: () => void): void {
  const key = h("input", {
    id: "api-key",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "key-help",
  });
  const error = h("p", { class: "error", role: "alert" });
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        error.textContent = "";
        session.set(key.value.trim());
        try {
          await api.me();
          done();
        } catch (err) {
          session.clear();
          error.textContent =
            err instanceof ApiError && err.status === 401
              ? "That key is not valid."
              : `Could not sign in: ${(err as Error).message}`;
        }
      },
    },
    h("h1", {}, "Sign in"),
    h("label", { for: "api-key" }, "API key"),
    key,
    h("p", { id: "key-help", class: "muted" }, "Kept in this tab only, until you sign out or close it."),
    error,
    h("button", { type: "submit", class: "primary" }, "Sign in"),
  );
  mount(root, form);
  key.focus();
}

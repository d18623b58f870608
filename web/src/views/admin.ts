import { api } from "../api";
import { copyField, h, mount } from "../dom";

// The admin creates users; each new key is shown once, here, and nowhere else.
export function admin(root: HTMLElement): void {
  const name = h("input", { id: "new-name", required: true, maxlength: 256, autocomplete: "off" });
  const email = h("input", { id: "new-email", type: "email", required: true, autocomplete: "off" });
  const out = h("div", { "aria-live": "polite" });
  const form = h(
    "form",
    {
      class: "card narrow",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          const u = await api.createUser(name.value, email.value);
          out.replaceChildren(
            h("p", {}, `Created ${u.userName}. Their API key is shown only now:`),
            copyField("API key", u.apiKey ?? "", "new-key"),
          );
          form.reset();
        } catch (err) {
          out.replaceChildren(h("p", { class: "error", role: "alert" }, (err as Error).message));
        }
      },
    },
    h("h1", {}, "New user"),
    h("label", { for: "new-name" }, "Name"),
    name,
    h("label", { for: "new-email" }, "Email"),
    email,
    h("button", { type: "submit", class: "primary" }, "Create user"),
  );
  mount(root, form, out);
}

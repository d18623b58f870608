// The console's shell: sign-in gate and a hash router over the views.
import "./style.css";
import { api, session, type User } from "./api";
import { toast } from "./dom";
import { admin } from "./views/admin";
import { gallery } from "./views/gallery";
import { imagePage } from "./views/image";
import { playground } from "./views/playground";
import { signIn } from "./views/signin";
import { upload } from "./views/upload";

const main = document.getElementById("main")!;
const nav = document.getElementById("nav")!;
let me: User | null = null;
let teardown: (() => void) | void;

async function route(): Promise<void> {
  if (teardown) teardown();
  teardown = undefined;
  if (!session.key || !me) {
    nav.hidden = true;
    signIn(main, async () => {
      me = await api.me();
      if (!location.hash || location.hash === "#/") location.hash = "#/gallery";
      else void route();
    });
    return;
  }
  nav.hidden = false;
  document.getElementById("nav-admin")!.hidden = !me.isAdmin;
  const [, view, id] = location.hash.split("/");
  for (const a of nav.querySelectorAll("a")) {
    a.toggleAttribute("aria-current", a.getAttribute("href") === `#/${view}`);
  }
  try {
    switch (view) {
      case "upload":
        teardown = upload(main);
        break;
      case "image":
        await imagePage(main, decodeURIComponent(id ?? ""));
        break;
      case "playground":
        await playground(main, id ? decodeURIComponent(id) : undefined);
        break;
      case "admin":
        admin(main);
        break;
      default:
        teardown = gallery(main);
    }
  } catch (e) {
    toast((e as Error).message, "error");
  }
  main.focus({ preventScroll: true });
}

document.getElementById("signout")!.addEventListener("click", () => {
  session.clear();
  me = null;
  location.hash = "#/";
  void route();
});
window.addEventListener("hashchange", () => void route());

(async () => {
  if (session.key) {
    try {
      me = await api.me();
    } catch {
      session.clear();
    }
  }
  await route();
})();

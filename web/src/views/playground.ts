import { api, ApiError, Image, sameOriginIfPossible } from "../api";
import { bytes, copyField, h, mount } from "../dom";

// The resize playground: the variant parameters, a live preview, and what it costs (the
// URL, its bytes and the time to fetch it). The API checks the parameters (a 400 names the
// one at fault) and signs the URL when the image needs it.
export async function playground(root: HTMLElement, id: string | undefined): Promise<void> {
  const page = await api.list(null, 100);
  const ready = page.images.filter((im) => im.status === "ready");
  if (ready.length === 0) {
    mount(root, h("h1", {}, "Playground"), h("p", {}, "Upload an image first."));
    return;
  }
  const chosen: Image = ready.find((im) => im.imageId === id) ?? (id ? await api.get(id) : ready[0]);
  const pick = h(
    "select",
    { id: "pg-image", onchange: () => (location.hash = `#/playground/${pick.value}`) },
    ...ready.map((im) => {
      const o = h("option", { value: im.imageId }, im.imageName || im.imageId);
      o.selected = im.imageId === chosen.imageId;
      return o;
    }),
  );
  const num = (name: string, label: string, value: string, min: number, max: number) =>
    h("label", {}, label, h("input", { name, type: "number", min, max, value, inputmode: "numeric" }));
  const form = h(
    "form",
    { class: "card controls", "data-testid": "playground-form" },
    h("label", { for: "pg-image" }, "Image"),
    pick,
    num("w", "Width", "400", 1, 8192),
    num("h", "Height", "300", 1, 8192),
    h(
      "label",
      {},
      "Fit",
      h("select", { name: "fit" }, ...["cover", "contain", "fill", "inside"].map((f) => h("option", { value: f }, f))),
    ),
    num("q", "Quality", "80", 1, 100),
    h("label", {}, "Background", h("input", { name: "bg", type: "color", value: "#ffffff" })),
    h("label", { class: "check" }, h("input", { name: "enlarge", type: "checkbox" }), "Enlarge"),
    h("label", { class: "check" }, h("input", { name: "progressive", type: "checkbox" }), "Progressive"),
  );
  const preview = h("img", { alt: "variant preview", class: "preview", "data-testid": "pg-preview" });
  const stats = h("p", { "data-testid": "pg-stats", "aria-live": "polite" });
  const urlBox = h("div");
  mount(root, h("h1", {}, "Resize playground"), h("div", { class: "split" }, form, h("div", {}, preview, stats, urlBox)));

  let seq = 0;
  let objectUrl = "";
  const update = async () => {
    const mine = ++seq;
    const data = new FormData(form);
    const params = new URLSearchParams();
    for (const k of ["w", "h", "fit", "q"]) {
      const v = String(data.get(k) ?? "");
      if (v) params.set(k, v);
    }
    if (data.get("fit") === "contain") params.set("bg", String(data.get("bg")).replace("#", ""));
    if (data.get("enlarge")) params.set("enlarge", "true");
    if (data.get("progressive")) params.set("progressive", "true");
    try {
      const link = await api.link(chosen.imageId, params);
      const t0 = performance.now();
      const res = await fetch(sameOriginIfPossible(link.url), { credentials: "omit" });
      if (!res.ok) {
        const p = await res.json().catch(() => ({}));
        throw new ApiError(res.status, p.type ?? "", p.detail ?? res.statusText);
      }
      const blob = await res.blob();
      const ms = performance.now() - t0;
      if (mine !== seq) return;
      if (objectUrl) URL.revokeObjectURL(objectUrl);
      objectUrl = URL.createObjectURL(blob);
      preview.src = objectUrl;
      await preview.decode().catch(() => undefined);
      stats.className = "";
      stats.textContent = `${preview.naturalWidth}×${preview.naturalHeight} px · ${bytes(blob.size)} · ${ms.toFixed(0)} ms`;
      urlBox.replaceChildren(copyField("Variant URL", link.url, "pg-url"));
    } catch (e) {
      if (mine !== seq) return;
      stats.className = "error";
      stats.textContent = (e as Error).message;
    }
  };
  let timer = 0;
  form.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(update, 250);
  });
  form.addEventListener("submit", (e) => e.preventDefault());
  await update();
}

import { api, ApiError, Image } from "../api";
import { bytes, copyField, h, mount, toast } from "../dom";
import { thumbnailSrcset } from "./thumbs";

// One image: metadata, rename/describe, public/private, delete (confirmed), and the URLs
// to copy: the original, a variant and a signed link that expires.
export async function imagePage(root: HTMLElement, id: string): Promise<void> {
  let im: Image;
  try {
    im = await api.get(id);
  } catch (e) {
    mount(root, h("p", { class: "error" }, (e as ApiError).message), h("a", { href: "#/gallery" }, "Back"));
    return;
  }
  const render = async (image: Image) => {
    im = image;
    const preview = h("img", { alt: im.imageName || "untitled image", class: "preview", width: 480, height: 480 });
    if (im.status === "ready") {
      thumbnailSrcset(im, 480).then(({ src, srcset }) => {
        preview.srcset = srcset;
        preview.src = src;
      });
    }
    const variant = await api.link(im.imageId, new URLSearchParams({ w: "800" }));
    const signed = await api.link(im.imageId, new URLSearchParams({ signed: "true" }));
    mount(
      root,
      h("p", {}, h("a", { href: "#/gallery" }, "← Gallery")),
      h("h1", { "data-testid": "image-title" }, im.imageName || "untitled"),
      h(
        "div",
        { class: "split" },
        preview,
        h("div", {}, details(im), editForm(im, render), urls(im, variant.url, signed.url, signed.expiresAt), actions(im, render)),
      ),
    );
  };
  await render(im);
}

function details(im: Image): HTMLElement {
  const row = (k: string, v: string) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v));
  return h(
    "table",
    { class: "meta", "data-testid": "metadata" },
    h(
      "tbody",
      {},
      row("Size", `${im.width}×${im.height} px, ${bytes(im.size)}`),
      row("Visibility", im.visibility),
      row("Status", im.status),
      row("Uploaded", new Date(im.createdDate).toLocaleString()),
      row("Changed", new Date(im.modifiedDate).toLocaleString()),
      row("SHA-256", im.sha256 ?? "—"),
      row("Id", im.imageId),
    ),
  );
}

function editForm(im: Image, render: (im: Image) => Promise<void>): HTMLElement {
  const name = h("input", { id: "edit-name", value: im.imageName, maxlength: 1024 });
  const desc = h("textarea", { id: "edit-desc", rows: 3, maxlength: 8192 }, im.imageDescription);
  return h(
    "form",
    {
      class: "card",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        try {
          await render(await api.update(im.imageId, { imageName: name.value, imageDescription: desc.value }));
          toast("Saved");
        } catch (err) {
          toast(`Not saved: ${(err as Error).message}`, "error");
        }
      },
    },
    h("label", { for: "edit-name" }, "Name"),
    name,
    h("label", { for: "edit-desc" }, "Description"),
    desc,
    h("button", { type: "submit" }, "Save"),
  );
}

function urls(im: Image, variantUrl: string, signedUrl: string, expiresAt: string | null): HTMLElement {
  return h(
    "section",
    { class: "card", "aria-label": "Links" },
    copyField("Original", im.imageUrl, "url-original"),
    copyField("Variant (800 px wide)", variantUrl, "url-variant"),
    copyField(
      `Signed link${expiresAt ? ` (until ${new Date(expiresAt).toLocaleString()})` : ""}`,
      signedUrl,
      "url-signed",
    ),
  );
}

function actions(im: Image, render: (im: Image) => Promise<void>): HTMLElement {
  const isPrivate = im.visibility === "private";
  const toggle = h(
    "button",
    {
      type: "button",
      role: "switch",
      "aria-checked": String(isPrivate),
      "data-testid": "visibility",
      onclick: async () => {
        try {
          await render(await api.update(im.imageId, { visibility: isPrivate ? "public" : "private" }));
          toast(isPrivate ? "Now public" : "Now private: only signed links and your key can read it");
        } catch (err) {
          toast(`Not changed: ${(err as Error).message}`, "error");
        }
      },
    },
    isPrivate ? "Private (make public)" : "Public (make private)",
  );
  const dialog = h(
    "dialog",
    { "aria-labelledby": "del-title" },
    h("h2", { id: "del-title" }, "Delete this image?"),
    h("p", {}, "The original, its variants and every cached copy go. This cannot be undone."),
    h(
      "form",
      { method: "dialog", class: "row" },
      h("button", { value: "cancel", autofocus: true }, "Cancel"),
      h("button", { value: "delete", class: "danger", "data-testid": "confirm-delete" }, "Delete"),
    ),
  );
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "delete") return;
    try {
      await api.remove(im.imageId);
      toast("Deleted");
      location.hash = "#/gallery";
    } catch (err) {
      toast(`Not deleted: ${(err as Error).message}`, "error");
    }
  });
  return h(
    "div",
    { class: "row" },
    toggle,
    h("a", { class: "button", href: `#/playground/${im.imageId}` }, "Resize…"),
    h("button", { type: "button", class: "danger", onclick: () => dialog.showModal() }, "Delete…"),
    dialog,
  );
}

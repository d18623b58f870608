import { api, Image } from "../api";
import { bytes, h, mount, toast } from "../dom";
import { paintPlaceholder, thumbnailSrcset } from "./thumbs";

// The caller's images, newest first; the next page (by cursor) loads as the end of the
// grid scrolls into view, or with the button (keyboard users, no IntersectionObserver).
export function gallery(root: HTMLElement): () => void {
  const grid = h("ul", { class: "grid", "data-testid": "gallery" });
  const more = h("button", { type: "button", class: "more", hidden: true }, "Load more");
  const empty = h("p", { class: "muted", hidden: true }, "No images yet. ", h("a", { href: "#/upload" }, "Upload some."));
  let cursor: string | null = null;
  let loading = false;
  let done = false;

  const load = async () => {
    if (loading || done) return;
    loading = true;
    try {
      const page = await api.list(cursor);
      for (const im of page.images) grid.append(card(im));
      cursor = page.nextCursor;
      done = cursor === null;
      more.hidden = done;
      empty.hidden = grid.children.length > 0;
    } catch (e) {
      toast(`Could not list images: ${(e as Error).message}`, "error");
    } finally {
      loading = false;
    }
  };
  more.addEventListener("click", load);
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) void load();
  });
  observer.observe(more);
  mount(root, h("h1", {}, "Gallery"), empty, grid, more);
  void load().then(() => {
    if (!done) more.hidden = false;
  });
  return () => observer.disconnect();
}

function card(im: Image): HTMLElement {
  const img = h("img", {
    alt: im.imageName || "untitled image",
    width: 240,
    height: 240,
    loading: "lazy",
    decoding: "async",
  });
  if (im.status === "ready") {
    paintPlaceholder(img, im);
    thumbnailSrcset(im, 240)
      .then(({ src, srcset }) => {
        img.srcset = srcset;
        img.src = src;
      })
      .catch(() => img.classList.add("broken"));
  }
  return h(
    "li",
    { class: "tile" },
    h(
      "a",
      { href: `#/image/${im.imageId}`, "data-testid": "tile", "data-image-id": im.imageId },
      img,
      h(
        "span",
        { class: "caption" },
        h("span", { class: "name" }, im.imageName || "untitled"),
        h("span", { class: "muted" }, `${im.width}×${im.height} · ${bytes(im.size)}`),
        im.visibility === "private" ? h("span", { class: "badge" }, "private") : null,
        im.status === "pending" ? h("span", { class: "badge" }, "pending") : null,
      ),
    ),
  );
}

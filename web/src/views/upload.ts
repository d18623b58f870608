import Uppy from "@uppy/core";
import Tus, { type TusBody } from "@uppy/tus";
import { api, Image, session } from "../api";
import { bytes, h, mount } from "../dom";

type Meta = { name: string; type: string };
type Row = ReturnType<typeof row>;

// Resumable uploads (tus 1.0, through Uppy): 1 MiB chunks, each acknowledged only once
// stored, so a dropped connection costs at most a chunk; tus retries with backoff and asks
// the server where to resume (HEAD). The key goes in a header, the file's name in its
// metadata (`filename`, which imgd takes as the image's name). Before a file is sent, its
// SHA-256 is asked about: a file already in the library is shown as such and not sent.
export function upload(root: HTMLElement): () => void {
  const uppy = new Uppy<Meta, TusBody>({
    autoProceed: true,
    restrictions: { allowedFileTypes: ["image/jpeg", ".jpg", ".jpeg"] },
  }).use(Tus, {
    endpoint: "/v1/uploads",
    headers: () => ({ Authorization: `Bearer ${session.key ?? ""}` }),
    chunkSize: 1024 * 1024,
    retryDelays: [0, 500, 1000, 2000, 4000, 8000],
    removeFingerprintOnSuccess: true,
    limit: 3,
  });
  const list = h("ul", { class: "uploads", "data-testid": "uploads" });
  const rows = new Map<string, Row>();

  const add = async (f: globalThis.File) => {
    const r = row(uppy, f.name, f.size);
    list.append(r.el);
    const existing = await alreadyStored(f);
    if (existing) {
      r.done({ ...existing, duplicate: true });
      return;
    }
    try {
      const id = uppy.addFile({ name: f.name, type: f.type, data: f, source: "local" });
      r.attach(id);
      rows.set(id, r);
      // Shown while tus retries a dropped connection (it then resumes at the server's offset).
      uppy.setFileState(id, {
        tus: {
          onShouldRetry: (err, attempt, _opts, next) => {
            const retry = next(err);
            if (retry) {
              r.el.dataset.retries = String(Number(r.el.dataset.retries ?? 0) + 1);
              r.status("retrying", `Connection lost, resuming (attempt ${attempt + 1})…`);
            }
            return retry;
          },
        },
      });
    } catch (e) {
      r.status("error", (e as Error).message);
    }
  };

  uppy.on("upload-progress", (file, p) => {
    const r = file && rows.get(file.id);
    if (r && p.bytesTotal) r.progress(p.bytesUploaded, p.bytesTotal);
  });
  uppy.on("upload-success", (file, response) => {
    const r = file && rows.get(file.id);
    if (!file || !r) return;
    let image: Image | undefined;
    try {
      image = JSON.parse(response.body?.xhr.responseText ?? "") as Image;
    } catch {
      image = undefined;
    }
    r.done(image);
    rows.delete(file.id);
    // Done with it: the same file may be dropped again (and is then found stored).
    setTimeout(() => uppy.removeFile(file.id), 0);
  });
  uppy.on("upload-error", (file, error) => {
    if (file) rows.get(file.id)?.status("error", error.message);
  });

  const input = h("input", {
    type: "file",
    id: "file-input",
    accept: "image/jpeg,.jpg,.jpeg",
    multiple: true,
    class: "visually-hidden",
    onchange: (e: Event) => {
      const files = (e.target as HTMLInputElement).files;
      for (const f of Array.from(files ?? [])) void add(f);
      (e.target as HTMLInputElement).value = "";
    },
  });
  const zone = h(
    "div",
    { class: "dropzone", "data-testid": "dropzone" },
    h("p", {}, "Drop JPEG files here, or"),
    h("label", { for: "file-input", class: "button primary", tabindex: 0 }, "Choose files"),
    input,
  );
  zone.addEventListener("keydown", (e) => {
    if ((e.key === "Enter" || e.key === " ") && e.target !== input) {
      e.preventDefault();
      input.click();
    }
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    for (const f of Array.from(e.dataTransfer?.files ?? [])) void add(f);
  });
  const controls = h(
    "div",
    { class: "row" },
    h("button", { type: "button", onclick: () => uppy.pauseAll() }, "Pause all"),
    h("button", { type: "button", onclick: () => uppy.resumeAll() }, "Resume all"),
  );
  mount(root, h("h1", {}, "Upload"), zone, controls, list);
  return () => uppy.destroy();
}

// The caller's image of these bytes, if any. Hashing needs a secure context (https or
// localhost); elsewhere the upload goes ahead and the server's answer says "duplicate".
async function alreadyStored(f: globalThis.File): Promise<Image | null> {
  if (!crypto.subtle) return null;
  try {
    const digest = await crypto.subtle.digest("SHA-256", await f.arrayBuffer());
    const hex = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    return (await api.byContent(hex)).images[0] ?? null;
  } catch {
    return null;
  }
}

function row(uppy: Uppy<Meta, TusBody>, name: string, size: number) {
  let fileId = "";
  const bar = h("progress", { max: 100, value: 0, "aria-label": `${name} progress` });
  const state = h("span", { class: "state", "data-testid": "upload-state" });
  const pause = h(
    "button",
    {
      type: "button",
      disabled: true,
      onclick: () => {
        const paused = uppy.pauseResume(fileId);
        pause.textContent = paused ? "Resume" : "Pause";
        setStatus(paused ? "paused" : "uploading", paused ? "Paused" : "Uploading");
      },
    },
    "Pause",
  );
  const result = h("span", { class: "result" });
  const el = h(
    "li",
    { class: "upload", "data-testid": "upload-row", "data-name": name },
    h("span", { class: "name" }, name),
    h("span", { class: "muted" }, bytes(size)),
    bar,
    state,
    pause,
    result,
  );
  const setStatus = (s: string, text: string) => {
    el.dataset.state = s;
    state.textContent = text;
  };
  setStatus("checking", "Checking…");
  return {
    el,
    status: setStatus,
    attach(id: string) {
      fileId = id;
      pause.disabled = false;
      setStatus("uploading", "Uploading");
    },
    progress(sent: number, total: number) {
      bar.value = Math.round((100 * sent) / total);
      if (el.dataset.state === "retrying" || el.dataset.state === "uploading") {
        setStatus("uploading", `Uploading ${bar.value}%`);
      }
    },
    done(image: Image | undefined) {
      bar.value = 100;
      pause.remove();
      if (image?.duplicate) {
        setStatus("duplicate", "Already in your library");
      } else {
        const retries = Number(el.dataset.retries ?? 0);
        const resumed = `resumed after ${retries} dropped connection${retries > 1 ? "s" : ""}`;
        setStatus("done", retries ? `Stored (${resumed})` : "Stored");
      }
      if (image) {
        result.append(h("a", { href: `#/image/${image.imageId}` }, "Open"));
        if (image.nearDuplicates?.length) {
          result.append(
            " · looks like ",
            h("a", { href: `#/image/${image.nearDuplicates[0].imageId}` }, "an image you have"),
          );
        }
      }
    },
  };
}

// The web console in a real browser (Debian's Chromium, headless, driven by playwright-core):
// sign in, create a user, upload two photos (one paused and resumed over a slow link, one
// through a connection Toxiproxy cuts mid-way), see them in the gallery, open one, rename
// it, make it private and public again, resize it in the playground, delete it. Screenshots of each screen go to
// ARTIFACTS. Run by tests/integration/test_console.py, which starts imgd behind a Toxiproxy
// link and passes: CONSOLE_URL, ADMIN_KEY, TOXIPROXY_API, PROXY, PHOTO_SMALL, PHOTO_LARGE,
// CORPUS, ARTIFACTS. Exits non-zero on the first failed check; prints one JSON line of figures.
import assert from "node:assert/strict";
import { readFileSync, mkdirSync } from "node:fs";
import { basename, join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const URL_ = env("CONSOLE_URL");
const ADMIN_KEY = env("ADMIN_KEY");
const TOXI = env("TOXIPROXY_API");
const PROXY = env("PROXY");
const SMALL = env("PHOTO_SMALL");
const LARGE = env("PHOTO_LARGE");
const ARTIFACTS = env("ARTIFACTS");
const CORPUS = env("CORPUS");
mkdirSync(ARTIFACTS, { recursive: true });
const T = 30_000; // the longest any one step may take

const toxi = async (method, path, body) => {
  const res = await fetch(TOXI + path, {
    method,
    headers: { "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  assert.ok(res.ok, `toxiproxy ${method} ${path}: ${res.status}`);
};

// A user made through the API with the admin key; returns its key.
const createUser = async (name) => {
  const res = await fetch(`${URL_}v1/users`, {
    method: "POST",
    headers: { Authorization: `Bearer ${ADMIN_KEY}`, "Content-Type": "application/json" },
    body: JSON.stringify({ userName: name, userEmail: `${name}@example.com` }),
  });
  assert.equal(res.status, 201);
  return (await res.json()).apiKey;
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const figures = {};
const consoleErrors = [];
let tolerated = []; // console errors a step expects (a cut connection, a refused key)
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const page = await context.newPage();
try {
  page.setDefaultTimeout(T);
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    if (tolerated.some((re) => re.test(m.text()))) return;
    consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(`page error: ${e.message}`));
  const shot = (name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  // --- Load: weight and time to interactive on the loopback.
  const t0 = Date.now();
  await page.goto(URL_);
  await page.locator("#api-key").waitFor();
  figures.interactive_ms = Date.now() - t0;
  const weight = await page.evaluate(() =>
    performance
      .getEntriesByType("resource")
      .filter((e) => /\.(js|css)$/.test(new URL(e.name).pathname))
      .reduce((s, e) => s + e.encodedBodySize, 0),
  );
  figures.js_css_gzip_bytes = weight;
  const nav = await page.evaluate(() => {
    const n = performance.getEntriesByType("navigation")[0];
    return { domInteractive: n.domInteractive, loadEventEnd: n.loadEventEnd, html: n.encodedBodySize };
  });
  figures.dom_interactive_ms = Math.round(nav.domInteractive);
  figures.load_event_ms = Math.round(nav.loadEventEnd);
  figures.html_bytes = nav.html;
  await shot("01-sign-in");

  // --- A wrong key is refused in words; the right one, typed and sent with Enter, works.
  tolerated = [/401/];
  await page.fill("#api-key", "imgd_not-a-key");
  await page.keyboard.press("Enter");
  await page.getByText("That key is not valid.").waitFor();
  tolerated = [];
  await page.fill("#api-key", "");
  await page.locator("#api-key").focus();
  await page.keyboard.type(ADMIN_KEY);
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: "Gallery" }).waitFor();
  assert.ok(!page.url().includes(ADMIN_KEY), "the key is in the URL");

  // --- The admin creates a user and sees the key once.
  await page.locator("#nav").getByRole("link", { name: "Users" }).click();
  await page.fill("#new-name", "ann");
  await page.fill("#new-email", "ann@example.com");
  await page.getByRole("button", { name: "Create user" }).click();
  const userKey = await page.getByTestId("new-key").inputValue();
  assert.match(userKey, /^imgd_/);
  await shot("02-admin-new-user");
  await page.locator("#nav").getByRole("button", { name: "Sign out" }).click();
  await page.locator("#api-key").waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.length), 0, "sign-out left the key");
  await page.fill("#api-key", userKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("No images yet.").waitFor();
  // The key lives in this tab's session storage only.
  const stores = await page.evaluate(() => ({
    session: Object.values(sessionStorage),
    local: JSON.stringify(Object.entries(localStorage)),
    cookies: document.cookie,
  }));
  assert.deepEqual(stores.session, [userKey]);
  assert.ok(!stores.local.includes(userKey) && !stores.cookies.includes(userKey));
  assert.equal(await page.locator("#nav").getByRole("link", { name: "Users" }).isVisible(), false);

  // --- Upload with the file picker, over a slow link (Toxiproxy: 256 KB/s from the
  // browser), paused once it is under way and resumed.
  await page.locator("#nav").getByRole("link", { name: "Upload" }).click();
  await toxi("POST", `/proxies/${PROXY}/toxics`, {
    name: "slow",
    type: "bandwidth",
    stream: "upstream",
    attributes: { rate: 256 },
  });
  await page.setInputFiles("#file-input", SMALL);
  const rowSmall = page.locator(`[data-testid=upload-row][data-name="${basename(SMALL)}"]`);
  await page.waitForFunction(
    (name) => (document.querySelector(`[data-name="${name}"] progress`)?.value ?? 0) > 0,
    basename(SMALL),
  );
  tolerated = [/ERR_|Failed to load resource/]; // the paused request is aborted
  await rowSmall.getByRole("button", { name: "Pause" }).click();
  await rowSmall.and(page.locator("[data-state=paused]")).waitFor();
  await toxi("DELETE", `/proxies/${PROXY}/toxics/slow`);
  await rowSmall.getByRole("button", { name: "Resume" }).click();
  await rowSmall.and(page.locator("[data-state=done]")).waitFor();
  tolerated = [];

  // --- Upload by drag-and-drop, through a connection cut mid-way: Toxiproxy closes each
  // connection after 300 kB from the browser, so the first chunk's PATCH is cut short;
  // tus asks where to resume and carries on. The link is healed once a retry was seen.
  await toxi("POST", `/proxies/${PROXY}/toxics`, {
    name: "cut",
    type: "limit_data",
    stream: "upstream",
    attributes: { bytes: 300_000 },
  });
  tolerated = [/ERR_(EMPTY_RESPONSE|CONNECTION_RESET|CONNECTION_CLOSED|CONNECTION_REFUSED|NETWORK_CHANGED)|Failed to load resource/];
  const large = readFileSync(LARGE).toString("base64");
  const drop = await page.evaluateHandle(
    ({ b64, name }) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const dt = new DataTransfer();
      dt.items.add(new File([bytes], name, { type: "image/jpeg" }));
      return dt;
    },
    { b64: large, name: basename(LARGE) },
  );
  await page.dispatchEvent("[data-testid=dropzone]", "drop", { dataTransfer: drop });
  const rowLarge = page.locator(`[data-testid=upload-row][data-name="${basename(LARGE)}"]`);
  await rowLarge.and(page.locator("[data-retries]")).waitFor();
  await toxi("DELETE", `/proxies/${PROXY}/toxics/cut`);
  await rowLarge.and(page.locator("[data-state=done]")).waitFor({ timeout: 60_000 });
  tolerated = [];
  assert.match(await rowLarge.getByTestId("upload-state").innerText(), /resumed after \d+ dropped connection/);
  figures.dropped_connections = Number(await rowLarge.getAttribute("data-retries"));

  // --- The same photo again is shown as a duplicate, not stored twice.
  await page.setInputFiles("#file-input", SMALL);
  await page.locator("[data-testid=upload-row][data-state=duplicate]").waitFor();
  await shot("03-upload");

  // --- The gallery: both, newest first, thumbnails by srcset variant URLs.
  await page.locator("#nav").getByRole("link", { name: "Gallery" }).click();
  const tiles = page.getByTestId("tile");
  await tiles.nth(1).waitFor();
  assert.equal(await tiles.count(), 2);
  assert.equal(await tiles.first().locator(".name").innerText(), basename(LARGE));
  const srcset = await tiles.first().locator("img").getAttribute("srcset");
  // Each tile paints its BlurHash placeholder (a data: URL behind the <img>) first.
  assert.equal(await tiles.first().locator("img").getAttribute("data-placeholder"), "blurhash");
  assert.match(
    await tiles.first().locator("img").evaluate((i) => i.style.backgroundImage),
    /^url\("data:image\/png;base64,/,
  );
  assert.match(srcset, /w=240.*1x, .*w=480.*2x/);
  await page.waitForFunction(() =>
    [...document.querySelectorAll("[data-testid=tile] img")].every((i) => i.complete && i.naturalWidth > 0),
  );
  await shot("04-gallery");

  // --- The image page: metadata, rename, private and back, copyable URLs.
  await tiles.first().click();
  await page.getByTestId("metadata").waitFor();
  await page.fill("#edit-name", "Sunset, renamed");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("heading", { name: "Sunset, renamed" }).waitFor();
  const publicUrl = await page.getByTestId("url-original").inputValue();
  assert.ok(!publicUrl.includes("sig="));
  await page.getByTestId("visibility").click();
  await page.getByTestId("visibility").and(page.locator('[aria-checked="true"]')).waitFor();
  const signedUrl = await page.getByTestId("url-original").inputValue();
  assert.match(signedUrl, /sig=/);
  // Without a signature the private image is refused; the signed link works, keyless.
  tolerated = [/403/];
  const reads = await page.evaluate(
    async ([plain, signed]) => [
      (await fetch(plain, { credentials: "omit" })).status,
      (await fetch(signed, { credentials: "omit" })).status,
    ],
    [publicUrl, signedUrl],
  );
  assert.deepEqual(reads, [403, 200]);
  tolerated = [];
  await shot("05-image-private");
  await page.getByTestId("visibility").click();
  await page.getByTestId("visibility").and(page.locator('[aria-checked="false"]')).waitFor();
  assert.match(await page.getByTestId("url-signed").inputValue(), /sig=/);
  const imageId = (await page.getByTestId("metadata").locator("tr", { hasText: "Id" }).locator("td").innerText()).trim();

  // --- The playground: parameters in, a live preview, its URL, bytes and time out.
  await page.getByRole("link", { name: "Resize…" }).click();
  await page.getByTestId("pg-stats").filter({ hasText: "400×300" }).waitFor();
  await page.fill("input[name=w]", "320");
  await page.fill("input[name=h]", "200");
  await page.selectOption("select[name=fit]", "contain");
  await page.fill("input[name=q]", "70");
  await page.getByTestId("pg-stats").filter({ hasText: "320×200" }).waitFor();
  const variantUrl = await page.getByTestId("pg-url").inputValue();
  assert.match(variantUrl, /w=320/);
  assert.match(variantUrl, /fit=contain/);
  assert.match(variantUrl, /q=70/);
  assert.match(await page.getByTestId("pg-stats").innerText(), /\d+(\.\d+)? KB · \d+ ms/);
  // A bad value is named, not a broken image.
  tolerated = [/400/];
  await page.fill("input[name=w]", "99999");
  await page.getByTestId("pg-stats").filter({ hasText: /w/ }).and(page.locator(".error")).waitFor();
  await page.fill("input[name=w]", "320");
  await page.getByTestId("pg-stats").filter({ hasText: "320×200" }).waitFor();
  tolerated = [];
  await shot("06-playground");

  // --- Delete, confirmed in a dialog.
  await page.goto(`${URL_}#/image/${imageId}`);
  await page.getByRole("button", { name: "Delete…" }).click();
  await page.getByRole("dialog").waitFor();
  await shot("07-delete-confirm");
  await page.getByTestId("confirm-delete").click();
  await page.getByRole("heading", { name: "Gallery" }).waitFor();
  await page.waitForFunction(() => document.querySelectorAll("[data-testid=tile]").length === 1);
  tolerated = [/404/];
  const gone = await page.evaluate(async (id) => {
    const key = sessionStorage.getItem("imgd.apiKey");
    return (await fetch(`/v1/images/${id}`, { headers: { Authorization: `Bearer ${key}` } })).status;
  }, imageId);
  tolerated = [];
  assert.equal(gone, 404);

  // --- A phone-sized screen: one column, nothing wider than the screen.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.reload();
  await page.getByTestId("tile").first().waitFor();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than a phone`);
  await shot("08-gallery-phone");

  // --- Endless scroll: a user with more images than a page (24) sees them all, newest
  // first, as the end of the grid comes into view.
  const bobKey = await createUser("bob");
  const files = readFileSync(join(CORPUS, "MANIFEST.tsv"), "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.split("\t"))
    .filter((f) => f[6] === "accept" && Number(f[1]) < 200_000);
  const unique = [...new Map(files.map((f) => [f[4], f[0]])).values()].slice(0, 30);
  assert.equal(unique.length, 30);
  for (const path of unique) {
    const res = await fetch(`${URL_}v1/images?imageName=${encodeURIComponent(basename(path))}`, {
      method: "POST",
      headers: { Authorization: `Bearer ${bobKey}`, "Content-Type": "image/jpeg" },
      body: readFileSync(join(CORPUS, path)),
    });
    assert.equal(res.status, 201, `${path}: ${res.status}`);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.locator("#nav").getByRole("button", { name: "Sign out" }).click();
  await page.fill("#api-key", bobKey);
  await page.keyboard.press("Enter");
  await page.getByTestId("tile").nth(23).waitFor();
  const firstPage = await page.getByTestId("tile").count();
  await page.getByRole("button", { name: "Load more" }).scrollIntoViewIfNeeded();
  await page.getByTestId("tile").nth(29).waitFor();
  assert.equal(await page.getByTestId("tile").count(), 30);
  assert.equal(await page.getByRole("button", { name: "Load more" }).isVisible(), false);
  assert.equal(await page.getByTestId("tile").first().locator(".name").innerText(), basename(unique[29]));
  figures.gallery_pages = firstPage < 30 ? 2 : 1;
  assert.equal(firstPage, 24);

  assert.deepEqual(consoleErrors, [], "the console logged errors");
  figures.user_key = userKey; // a test key: test_console checks imgd logged it nowhere
  console.log(JSON.stringify(figures));
} catch (e) {
  await page.screenshot({ path: join(ARTIFACTS, "failure.png"), fullPage: true }).catch(() => {});
  console.error("console errors so far:", consoleErrors);
  throw e;
} finally {
  await browser.close();
}

// The console is built into CMake's binary dir and embedded in imgd (cmake/embed_assets.py).
// Everything is a file under /assets/ with a content hash in its name: no inline script or
// style, so the page runs under a strict Content-Security-Policy.
import { defineConfig } from "vite";

export default defineConfig({
  base: "/",
  build: {
    outDir: process.env.IMGD_CONSOLE_OUT ?? "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
  },
});

import { defineConfig } from "vite";

// Served by the admin API at /admin/; file names carry a content hash, so every file but
// index.html is cached for a year (see the README's "Admin web UI").
export default defineConfig({
  base: "/admin/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    // No inline data: URLs and no inline module preload polyfill: the CSP allows only 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    // The editor chunk (CodeMirror with five languages) is loaded on demand, not at start.
    chunkSizeWarningLimit: 700,
  },
});

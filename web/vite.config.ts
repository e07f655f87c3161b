// The build is reproducible (content-hashed names, no timestamps) so that
// the test command can rebuild it and compare with the committed dist/.
import { defineConfig } from "vite";

export default defineConfig({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // No data: URIs or inline code: the Content-Security-Policy allows
    // scripts and styles from the server's origin only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: "es2022",
    chunkSizeWarningLimit: 2000,
  },
});

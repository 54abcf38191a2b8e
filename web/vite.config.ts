import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// The official telegram-web-app.js, as shipped (unchanged) inside @twa-dev/sdk.
// We alias the file directly: the package's own entry wraps it in CommonJS and
// its "exports" map does not expose it.
const telegramWebAppJs = fileURLToPath(
  new URL('./node_modules/@twa-dev/sdk/dist/telegram-web-apps.js', import.meta.url),
);

export default defineConfig({
  // Relative asset URLs: the Python server serves the bundle at "/", and the
  // page also works from any sub-path behind a reverse proxy.
  base: './',
  resolve: {
    alias: { 'telegram-web-app': telegramWebAppJs },
  },
  server: {
    // `npm run dev` proxies the API to a locally running `tondonate serve`.
    proxy: { '/api': process.env.TONDONATE_API ?? 'http://127.0.0.1:8080' },
  },
  build: {
    outDir: '../tondonate/static',
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2020',
    sourcemap: false,
    cssCodeSplit: false,
    modulePreload: { polyfill: false },
    reportCompressedSize: true,
    rolldownOptions: {
      output: {
        // Content-hashed, deterministic names (same input -> same bytes).
        entryFileNames: 'assets/[name]-[hash].js',
        chunkFileNames: 'assets/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
});

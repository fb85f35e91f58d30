import { defineConfig } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// The Parley server (Rust) listens here during development.
const backend = process.env.PARLEY_BACKEND ?? 'http://127.0.0.1:5000';

export default defineConfig({
  plugins: [svelte()],
  base: '/',
  build: {
    outDir: 'dist',
    assetsDir: 'assets',
    // One CSS file per entry; no CSS injected from JS at run time.
    cssCodeSplit: false,
    // Never inline assets as data: URLs (the server's CSP is `default-src 'self'`).
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target: backend, changeOrigin: false },
      '/socket.io': { target: backend, ws: true, changeOrigin: false },
      '/login': { target: backend, changeOrigin: false },
      '/register': { target: backend, changeOrigin: false },
      '/logout': { target: backend, changeOrigin: false },
    },
  },
});

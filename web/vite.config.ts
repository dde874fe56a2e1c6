// The console's build: web/ -> dist/console/, which the manager serves at / (src/manager/routes/console.ts).
// `npm run dev:web` serves it with live reload and sends /v1 to a running manager
// (REBOUND_MANAGER, default http://127.0.0.1:7600).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/console', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: true,
  },
  server: {
    proxy: { '/v1': process.env.REBOUND_MANAGER ?? 'http://127.0.0.1:7600' },
  },
});

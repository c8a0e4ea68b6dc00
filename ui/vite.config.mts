import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const here = fileURLToPath(new URL('.', import.meta.url));

// The console is served by the API at /ui (src/api/routes/ui.ts); everything is bundled here,
// nothing is fetched from a CDN at run time.
export default defineConfig({
  root: here,
  base: '/ui/',
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL('../dist/ui', import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 1024,
  },
  server: {
    // `npm run dev:ui` proxies the API of `npm run dev` (127.0.0.1:3000).
    proxy: Object.fromEntries(
      ['/workflows', '/executions', '/schedules', '/ui/config.json'].map((p) => [p, 'http://127.0.0.1:3000']),
    ),
  },
});

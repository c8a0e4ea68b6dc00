import { setting } from '../../config';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';
import fastifyStatic from '@fastify/static';

export interface UiOptions {
  /** The built console (`npm run build:ui`); default dist/ui next to the sources or the compiled code. */
  root?: string;
  /** Base URL of the Temporal Web UI the console links runs to; default TEMPORAL_UI_URL or http://127.0.0.1:8233. */
  temporalUiUrl?: string;
  /** Temporal namespace in those links; default TEMPORAL_NAMESPACE or `default`. */
  namespace?: string;
  /** Dev mode's demo target, where the examples' sampleInput URLs must point (absent outside dev mode). */
  demoBaseUrl?: string;
}

/** Where `npm run build:ui` writes the console: from src/api/routes (tsx) or dist/api/routes (compiled). */
export function defaultUiRoot(): string {
  const candidates = [path.resolve(__dirname, '../../../dist/ui'), path.resolve(__dirname, '../../ui')];
  return candidates.find((dir) => existsSync(path.join(dir, 'index.html'))) ?? candidates[0]!;
}

/**
 * What the console may load and who may frame it. The Vite build is one script and one stylesheet
 * from /ui/assets (no inline script or style; React sets element styles through the DOM, which
 * style-src does not govern); its API calls and config go to this origin. Nothing may frame the
 * page (clickjacking the API-key form), and no URL of it leaks to another site as a Referer.
 */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "object-src 'none'",
    "form-action 'self'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
};

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>Trellis console</title>
<p>The Trellis console is not built. Run <code>npm run build:ui</code> and restart the API.</p>`;

/**
 * The web console at /ui: static files of the Vite build, index.html for every other path under
 * /ui/ (client-side routes), and /ui/config.json. Public: the page holds no data; every API call
 * it makes carries the API key the user enters.
 */
export const uiRoutes: FastifyPluginAsync<UiOptions> = async (app, options) => {
  const root = options.root ?? defaultUiRoot();
  const config = {
    temporalUiUrl: (options.temporalUiUrl ?? setting('TEMPORAL_UI_URL') ?? 'http://127.0.0.1:8233').replace(/\/+$/, ''),
    namespace: options.namespace ?? (setting('TEMPORAL_NAMESPACE') || 'default'),
    ...(options.demoBaseUrl ? { demoBaseUrl: options.demoBaseUrl } : {}),
  };
  const hide = { schema: { hide: true } };
  const built = existsSync(path.join(root, 'index.html'));
  // Every response of the console's routes (files, fallback, config, 404s, the not-built page).
  app.addHook('onSend', (_request, reply, payload, done) => {
    reply.headers(CONSOLE_SECURITY_HEADERS);
    done(null, payload);
  });

  app.get('/ui', hide, async (_request, reply) => reply.redirect('/ui/'));
  app.get('/ui/config.json', hide, async (_request, reply) => reply.header('cache-control', 'no-cache').send(config));

  if (!built) {
    app.get('/ui/*', hide, async (_request, reply) => reply.status(503).type('text/html; charset=utf-8').send(NOT_BUILT));
    return;
  }

  await app.register(fastifyStatic, {
    root,
    prefix: '/ui/',
    // Routes for the files that exist; everything else under /ui/ is the SPA fallback below.
    wildcard: false,
    index: 'index.html',
    schemaHide: true,
    cacheControl: false, // set below instead
    setHeaders(res, file) {
      // Vite puts a content hash in every asset name; index.html must always be revalidated.
      res.setHeader('cache-control', file.includes(`${path.sep}assets${path.sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache');
    },
  });

  app.get('/ui/*', hide, async (request, reply) => {
    const last = request.url.split('?')[0]!.split('/').pop() ?? '';
    // A missing asset is a 404; a client-side route (no extension) gets the app.
    if (/\.[a-z0-9]+$/i.test(last)) return reply.callNotFound();
    return reply.header('cache-control', 'no-cache').sendFile('index.html');
  });
};

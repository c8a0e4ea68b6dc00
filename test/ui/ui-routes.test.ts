import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { CONSOLE_SECURITY_HEADERS, uiRoutes } from '../../src/api/routes/ui';

async function serve(root: string, options: { temporalUiUrl?: string; namespace?: string } = {}) {
  const app = Fastify();
  await app.register(uiRoutes, { root, ...options });
  await app.ready();
  return app;
}

describe('/ui routes', () => {
  it('serves the build: files, index.html for client routes, 404 for missing assets, the config', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'trellis-ui-'));
    mkdirSync(path.join(root, 'assets'));
    writeFileSync(path.join(root, 'index.html'), '<!doctype html><div id="root"></div>');
    writeFileSync(path.join(root, 'assets/app-abc123.js'), 'console.log(1)');
    const app = await serve(root, { temporalUiUrl: 'http://temporal-ui:8080/', namespace: 'prod' });
    try {
      const index = await app.inject('/ui/');
      expect([index.statusCode, index.headers['cache-control']]).toEqual([200, 'no-cache']);
      const route = await app.inject('/ui/runs/ex_1?x=1');
      expect([route.statusCode, route.body]).toEqual([200, '<!doctype html><div id="root"></div>']);
      const asset = await app.inject('/ui/assets/app-abc123.js');
      expect([asset.statusCode, asset.headers['cache-control']]).toEqual([200, 'public, max-age=31536000, immutable']);
      expect((await app.inject('/ui/assets/gone-000.js')).statusCode).toBe(404);
      expect((await app.inject('/ui/config.json')).json()).toEqual({ temporalUiUrl: 'http://temporal-ui:8080', namespace: 'prod' });
    } finally {
      await app.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('serves the favicon the console links (ui/public/favicon.svg, copied into the build by Vite)', async () => {
    const source = path.resolve(__dirname, '../../ui');
    const svg = readFileSync(path.join(source, 'public/favicon.svg'), 'utf8');
    expect(svg).toMatch(/^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    // The link Vite rewrites to /ui/favicon.svg (base '/ui/'); CSP img-src 'self' allows it, a data: URL would not.
    expect(readFileSync(path.join(source, 'index.html'), 'utf8')).toContain('<link rel="icon" type="image/svg+xml" href="/favicon.svg" />');
    const root = mkdtempSync(path.join(tmpdir(), 'trellis-ui-'));
    writeFileSync(path.join(root, 'index.html'), '<!doctype html><link rel="icon" href="/ui/favicon.svg"><div id="root"></div>');
    writeFileSync(path.join(root, 'favicon.svg'), svg);
    const app = await serve(root);
    try {
      const icon = await app.inject('/ui/favicon.svg');
      expect([icon.statusCode, icon.headers['content-type'], icon.headers['cache-control']]).toEqual([200, 'image/svg+xml', 'no-cache']);
      expect(icon.body).toBe(svg);
      expect(icon.headers['content-security-policy']).toBe(CONSOLE_SECURITY_HEADERS['content-security-policy']);
    } finally {
      await app.close();
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('says how to build the console when it is not built, and still serves the config', async () => {
    const app = await serve(path.join(tmpdir(), 'trellis-ui-missing-' + process.pid));
    try {
      const page = await app.inject('/ui/');
      expect(page.statusCode).toBe(503);
      expect(page.body).toContain('npm run build:ui');
      expect((await app.inject('/ui/config.json')).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('sends a CSP, nosniff, frame and referrer protection with every console response, and nothing outside /ui', async () => {
    const root = mkdtempSync(path.join(tmpdir(), 'trellis-ui-'));
    mkdirSync(path.join(root, 'assets'));
    writeFileSync(path.join(root, 'index.html'), '<!doctype html><div id="root"></div>');
    writeFileSync(path.join(root, 'assets/app-abc123.js'), 'console.log(1)');
    const app = Fastify();
    await app.register(uiRoutes, { root });
    app.get('/elsewhere', async () => ({ ok: true }));
    const missing = await serve(path.join(tmpdir(), 'trellis-ui-missing-' + process.pid));
    try {
      const responses = {
        index: await app.inject('/ui/'),
        redirect: await app.inject('/ui'),
        route: await app.inject('/ui/runs/ex_1'),
        asset: await app.inject('/ui/assets/app-abc123.js'),
        missingAsset: await app.inject('/ui/assets/gone-000.js'),
        config: await app.inject('/ui/config.json'),
        notBuilt: await missing.inject('/ui/'),
      };
      for (const [name, res] of Object.entries(responses)) {
        expect(res.headers['content-security-policy'], name).toBe(CONSOLE_SECURITY_HEADERS['content-security-policy']);
        expect([res.headers['x-content-type-options'], res.headers['x-frame-options'], res.headers['referrer-policy']], name).toEqual(['nosniff', 'DENY', 'no-referrer']);
      }
      const csp = Object.fromEntries(responses.index.headers['content-security-policy']!.toString().split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
      expect(csp).toMatchObject({
        'default-src': "'self'",
        'script-src': "'self'",
        'style-src': "'self'",
        'connect-src': "'self'",
        'frame-ancestors': "'none'",
        'base-uri': "'none'",
        'object-src': "'none'",
      });
      expect(Object.values(csp).join(' ')).not.toMatch(/unsafe|\*|data:|http/);
      expect((await app.inject('/elsewhere')).headers['content-security-policy']).toBeUndefined();
    } finally {
      await app.close();
      await missing.close();
      rmSync(root, { recursive: true, force: true });
    }
  });
});

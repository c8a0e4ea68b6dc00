import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CancelledFailure } from '@temporalio/common';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { httpNodeType } from '../../src/activities/nodes/http';
import { classifyAddress } from '../../src/activities/nodes/ssrf';
import { toActivity } from '../../src/activities/registry';
import type { NodeActivityResult } from '../../src/contracts/node-activity';
import { failure, newActivityEnv } from '../support/activity';

const activity = toActivity(httpNodeType);

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A real server on 127.0.0.1; `handle` decides each response, `seen` records each request. */
async function startServer(handle: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void) {
  const seen: Seen[] = [];
  let connections = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handle(req, res, body);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    seen,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    server,
  };
}
type TestServer = Awaited<ReturnType<typeof startServer>>;


function run(config: Record<string, unknown>, env = newActivityEnv()): Promise<NodeActivityResult> {
  return env.run(activity, { nodeId: 'n', executionId: 'e', config }) as Promise<NodeActivityResult>;
}

function json(res: http.ServerResponse, status: number, value: unknown, headers: http.OutgoingHttpHeaders = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

let server: TestServer;
/** Whether the last /big response was written out completely (it should be cut off). */
let bigCompleted: Promise<boolean> = Promise.resolve(true);
const previousAllow = process.env.TRELLIS_HTTP_ALLOW_PRIVATE;

beforeAll(async () => {
  server = await startServer((req, res, body) => {
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/json':
        return json(res, 200, { hello: 'world', query: Object.fromEntries(url.searchParams) }, { 'x-custom': 'yes' });
      case '/echo':
        return json(res, 201, { received: body, contentType: req.headers['content-type'] ?? null });
      case '/headers':
        return json(res, 200, req.headers);
      case '/text':
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
        return res.end('plain text ✓');
      case '/bad-json':
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('{not json');
      case '/status': {
        const status = Number(url.searchParams.get('code'));
        const headers: http.OutgoingHttpHeaders = {};
        const retryAfter = url.searchParams.get('retryAfter');
        if (retryAfter) headers['retry-after'] = retryAfter;
        return json(res, status, { error: `status ${status}` }, headers);
      }
      case '/slow':
        setTimeout(() => json(res, 200, { late: true }), 2_000).unref();
        return;
      case '/big': {
        res.writeHead(200, { 'content-type': 'text/plain' }); // chunked: no content-length to trust
        bigCompleted = new Promise((resolve) => res.once('close', () => resolve(res.writableFinished)));
        // Far more than socket buffers hold, so finishing means the client read it all.
        const chunk = 'x'.repeat(64 * 1024);
        let sent = 0;
        const pump = () => {
          while (sent < 4096 && !res.destroyed) {
            sent++;
            if (!res.write(chunk)) return res.once('drain', pump);
          }
          res.end();
        };
        return pump();
      }
      default:
        return json(res, 404, { error: 'not found' });
    }
  });
});
afterAll(() => server.close());
beforeEach(() => {
  process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
});
afterEach(() => {
  if (previousAllow === undefined) delete process.env.TRELLIS_HTTP_ALLOW_PRIVATE;
  else process.env.TRELLIS_HTTP_ALLOW_PRIVATE = previousAllow;
});

describe('http node: success', () => {
  it('GETs JSON, parses the body, lower-cases headers, encodes the query string, reports the attempt', async () => {
    const result = await run({
      url: `${server.base}/json?keep=1`,
      headers: { 'X-Trace': 'abc' },
      query: { q: 'a b&c=d', n: 3, flag: true },
    });
    expect(result.attempt).toBe(2);
    const output = result.output as { status: number; headers: Record<string, string>; body: unknown };
    expect(output.status).toBe(200);
    expect(output.headers['x-custom']).toBe('yes');
    expect(output.headers['content-type']).toBe('application/json');
    expect(output.body).toEqual({ hello: 'world', query: { keep: '1', q: 'a b&c=d', n: '3', flag: 'true' } });
    const req = server.seen.at(-1)!;
    expect(req.method).toBe('GET');
    expect(req.url).toBe('/json?keep=1&q=a+b%26c%3Dd&n=3&flag=true');
    expect(req.headers['x-trace']).toBe('abc');
  });

  it('POSTs an object as JSON with a JSON content type', async () => {
    const result = await run({ method: 'POST', url: `${server.base}/echo`, body: { items: [1, 2], ok: true } });
    expect(result.output).toMatchObject({
      status: 201,
      body: { received: '{"items":[1,2],"ok":true}', contentType: 'application/json' },
    });
  });

  it('sends a string body as text and keeps a given content type', async () => {
    const plain = await run({ method: 'PUT', url: `${server.base}/echo`, body: 'hello' });
    expect(plain.output).toMatchObject({ body: { received: 'hello', contentType: 'text/plain; charset=utf-8' } });
    const xml = await run({ method: 'POST', url: `${server.base}/echo`, body: '<a/>', headers: { 'Content-Type': 'application/xml' } });
    expect(xml.output).toMatchObject({ body: { received: '<a/>', contentType: 'application/xml' } });
  });

  it('sends URL credentials as Basic auth', async () => {
    const result = await run({ url: `http://us%40er:p%3Ass@127.0.0.1:${server.port}/headers` });
    const expected = `Basic ${Buffer.from('us@er:p:ss').toString('base64')}`;
    expect(result.output).toMatchObject({ body: { authorization: expected } });
  });

  it('returns a text body as a string, and unparsable JSON as text', async () => {
    expect((await run({ url: `${server.base}/text` })).output).toMatchObject({ status: 200, body: 'plain text ✓' });
    expect((await run({ url: `${server.base}/bad-json` })).output).toMatchObject({ body: '{not json' });
  });

  it('accepts exactly the statuses in expectStatus', async () => {
    const ok = await run({ url: `${server.base}/status?code=404`, expectStatus: [404, 410] });
    expect(ok.output).toMatchObject({ status: 404, body: { error: 'status 404' } });
    const err = await failure(run({ url: `${server.base}/json`, expectStatus: 201 }));
    expect(err.type).toBe('HttpClientError');
    expect(err.nonRetryable).toBe(true);
  });
});

describe('http node: failures', () => {
  it('404 is a non-retryable HttpClientError with the status and body', async () => {
    const err = await failure(run({ url: `${server.base}/status?code=404` }));
    expect(err.type).toBe('HttpClientError');
    expect(err.nonRetryable).toBe(true);
    expect(err.details?.[0]).toMatchObject({ attempt: 2, status: 404, body: { error: 'status 404' } });
  });

  it('500 is a retryable HttpServerError', async () => {
    const err = await failure(run({ url: `${server.base}/status?code=500` }));
    expect(err.type).toBe('HttpServerError');
    expect(err.nonRetryable).toBe(false);
    expect(err.details?.[0]).toMatchObject({ status: 500 });
  });

  it('429 is retryable and honours Retry-After seconds, capped', async () => {
    const err = await failure(run({ url: `${server.base}/status?code=429&retryAfter=7` }));
    expect(err.type).toBe('HttpServerError');
    expect(err.nonRetryable).toBe(false);
    expect(err.nextRetryDelay).toBe(7_000);
    const capped = await failure(run({ url: `${server.base}/status?code=503&retryAfter=86400` }));
    expect(capped.nextRetryDelay).toBe(300_000);
    const plain500 = await failure(run({ url: `${server.base}/status?code=500&retryAfter=7` }));
    expect(plain500.nextRetryDelay).toBeUndefined();
  });

  it('408 is retryable', async () => {
    const err = await failure(run({ url: `${server.base}/status?code=408` }));
    expect(err.type).toBe('HttpServerError');
    expect(err.nonRetryable).toBe(false);
  });

  it('timeoutMs turns a slow response into a retryable HttpTimeoutError', async () => {
    const started = Date.now();
    const err = await failure(run({ url: `${server.base}/slow`, timeoutMs: 100 }));
    expect(err.type).toBe('HttpTimeoutError');
    expect(err.nonRetryable).toBe(false);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('stops reading a response larger than maxResponseBytes', async () => {
    const err = await failure(run({ url: `${server.base}/big`, maxResponseBytes: 64 * 1024 }));
    expect(err.type).toBe('HttpResponseTooLarge');
    expect(err.nonRetryable).toBe(true);
    expect(await bigCompleted).toBe(false);
  });

  it('a refused connection is a retryable HttpNetworkError', async () => {
    const closed = await startServer(() => undefined);
    await closed.close();
    const err = await failure(run({ url: `${closed.base}/` }));
    expect(err.type).toBe('HttpNetworkError');
    expect(err.nonRetryable).toBe(false);
  });

  it('rejects a config that breaks the schema, a bad URL or a non-http scheme with ConfigError', async () => {
    for (const config of [
      { url: `${server.base}/json`, method: 'FETCH' },
      { url: `${server.base}/json`, extra: 1 },
      { url: 'not a url' },
      { url: 'file:///etc/passwd' },
      { url: 'ftp://example.com/' },
    ]) {
      const err = await failure(run(config));
      expect(err.type, JSON.stringify(config)).toBe('ConfigError');
      expect(err.nonRetryable).toBe(true);
    }
  });
});

describe('http node: cancellation', () => {
  it('env.cancel() aborts the in-flight request and rejects with CancelledFailure', async () => {
    let aborted!: () => void;
    const sawAbort = new Promise<void>((resolve) => (aborted = resolve));
    const arrived = new Promise<void>((resolve) => {
      server.server.once('request', (req: http.IncomingMessage) => {
        if (!req.url?.startsWith('/slow')) return;
        req.socket.once('close', () => aborted());
        resolve();
      });
    });
    const env = newActivityEnv();
    const pending = run({ url: `${server.base}/slow?hold=1` }, env);
    await arrived;
    const started = Date.now();
    env.cancel();
    await expect(pending).rejects.toBeInstanceOf(CancelledFailure);
    await sawAbort;
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('http node: SSRF guard', () => {
  beforeEach(() => {
    delete process.env.TRELLIS_HTTP_ALLOW_PRIVATE;
  });

  it.each([
    ['127.0.0.1', () => `${server.base}/json`],
    ['localhost (resolved at connect time)', () => `http://localhost:${server.port}/json`],
    ['10.0.0.1', () => 'http://10.0.0.1/'],
    ['169.254.169.254', () => 'http://169.254.169.254/latest/meta-data/'],
    ['[::1]', () => `http://[::1]:${server.port}/`],
    ['IPv4-mapped [::ffff:127.0.0.1]', () => `http://[::ffff:127.0.0.1]:${server.port}/`],
    ['decimal 2130706433', () => `http://2130706433:${server.port}/`],
  ])('refuses %s without connecting', async (_name, url) => {
    const before = server.connections();
    const err = await failure(run({ url: url() }));
    expect(err.type).toBe('HttpForbiddenAddress');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('TRELLIS_HTTP_ALLOW_PRIVATE=1');
    expect(server.connections()).toBe(before);
  });

  it('names the address in the message', async () => {
    const err = await failure(run({ url: 'http://169.254.169.254/' }));
    expect(err.message).toContain('169.254.169.254');
    expect(err.message).toContain('metadata');
  });

  it('TRELLIS_HTTP_ALLOW_PRIVATE=1 lets a DNS name resolve to loopback', async () => {
    process.env.TRELLIS_HTTP_ALLOW_PRIVATE = '1';
    const result = await run({ url: `http://localhost:${server.port}/json` });
    expect(result.output).toMatchObject({ status: 200 });
  });
});

describe('classifyAddress', () => {
  it.each([
    '127.0.0.1', '127.255.255.254', '10.0.0.1', '10.255.255.255', '172.16.0.1', '172.31.255.255',
    '192.168.1.1', '169.254.0.1', '169.254.169.254', '100.64.0.1', '100.127.255.255', '0.0.0.0',
    '0.1.2.3', '224.0.0.1', '239.255.255.250', '255.255.255.255', '240.0.0.1', '192.0.0.8', '198.18.0.1',
    '::', '::1', 'fc00::1', 'fd00:ec2::254', 'fd12:3456::1', 'fe80::1', 'fe80::1%eth0', 'febf::1', 'ff02::1',
    '::ffff:127.0.0.1', '::ffff:10.1.2.3', '::ffff:169.254.169.254', '::ffff:7f00:1', '64:ff9b::7f00:1',
    '64:ff9b::10.0.0.1', 'not-an-ip', '',
  ])('refuses %s', (address) => {
    expect(classifyAddress(address)).toBeDefined();
  });

  it.each([
    '8.8.8.8', '1.1.1.1', '93.184.216.34', '172.15.255.255', '172.32.0.1', '192.167.1.1', '192.169.0.1',
    '100.63.255.255', '100.128.0.1', '169.253.0.1', '11.0.0.1', '223.255.255.255', '2606:4700:4700::1111',
    '2001:4860:4860::8888', '::ffff:8.8.8.8', '64:ff9b::808:808',
  ])('allows %s', (address) => {
    expect(classifyAddress(address)).toBeUndefined();
  });

  it('labels the metadata endpoints specifically', () => {
    expect(classifyAddress('169.254.169.254')).toBe('cloud metadata');
    expect(classifyAddress('fd00:ec2::254')).toBe('cloud metadata');
    expect(classifyAddress('::1')).toBe('loopback');
  });

  // Issue 22: the cloud metadata and platform endpoints, each by the provider that documents it.
  it.each([
    ['169.254.169.254', 'AWS, GCP, Azure IMDS, Oracle OCI, DigitalOcean, Hetzner, OpenStack'],
    ['fd00:ec2::254', 'AWS IMDS over IPv6'],
    ['FD00:EC2:0:0:0:0:0:254', 'AWS IMDS over IPv6, written out'],
    ['169.254.170.2', 'AWS ECS task metadata'],
    ['168.63.129.16', 'Azure WireServer (a public address)'],
    ['100.100.100.200', 'Alibaba Cloud'],
    ['192.0.0.192', 'Oracle Cloud Classic'],
    ['::ffff:168.63.129.16', 'Azure WireServer, IPv4-mapped'],
    ['64:ff9b::a83f:8110', 'Azure WireServer through NAT64'],
    ['2002:a83f:8110::1', 'Azure WireServer through 6to4'],
  ])('refuses %s as cloud metadata (%s)', (address) => {
    expect(classifyAddress(address)).toMatch(/cloud metadata/);
  });

  it.each([
    ['169.254.0.23', 'Tencent Cloud metadata'],
    ['169.254.169.123', 'AWS time sync'],
    ['169.254.169.253', 'AWS DNS resolver'],
    ['fd00:ec2::23', 'AWS time sync over IPv6'],
    ['fe80::a9fe:a9fe', 'OpenStack metadata over IPv6'],
  ])('refuses %s (%s) by its range', (address) => {
    expect(classifyAddress(address)).toBeDefined();
  });

  it('still allows the addresses next to the public metadata endpoints', () => {
    for (const address of ['168.63.129.15', '168.63.129.17', '100.128.100.200', '192.0.1.192']) expect(classifyAddress(address), address).toBeUndefined();
  });
});

describe('classifyAddress: IPv6 forms that carry an IPv4 address, and documentation ranges (issue 9)', () => {
  it.each([
    ['2002:7f00:1::', /6to4 of loopback 127.0.0.1/],
    ['2002:a00:1::1', /6to4 of private 10.0.0.1/],
    ['2001:0:7f00:1::', /Teredo of loopback 127.0.0.1/],
    ['2001:0:4136:e378:8000:63bf:80ff:fffe', /Teredo of loopback 127.0.0.1/],
    ['64:ff9b:1::7f00:1', /local-use NAT64/],
    ['::7f00:1', /IPv4-compatible/],
    ['::a9fe:a9fe', /IPv4-compatible/],
    ['::ffff:0:7f00:1', /SIIT of loopback 127.0.0.1/],
    ['::ffff:0:a9fe:a9fe', /SIIT of cloud metadata/],
    ['192.0.2.1', /reserved or documentation/],
    ['198.51.100.7', /reserved or documentation/],
    ['203.0.113.9', /reserved or documentation/],
    ['2001:db8::1', /reserved or documentation/],
    ['100::1', /discard/],
  ])('refuses %s', (address, reason) => {
    expect(classifyAddress(address)).toMatch(reason);
  });

  it.each(['2002:808:808::1', '2001:0:4136:e378:8000:63bf:f7f7:f7f7'])('allows %s, whose embedded IPv4 addresses are public', (address) => {
    expect(classifyAddress(address)).toBeUndefined();
  });
});

describe('http node: errors map (status → error type)', () => {
  const errors = { '429': 'RateLimited', '4xx': 'BadRequest', '5xx': 'Upstream', '503': 'Maintenance' };

  it('names a failing status by exact code first, then by class, keeping its retryability', async () => {
    const limited = await failure(run({ url: `${server.base}/status?code=429&retryAfter=2`, errors }));
    expect(limited.type).toBe('RateLimited');
    expect(limited.nonRetryable).toBe(false);
    expect(limited.nextRetryDelay).toBe(2_000);
    const notFound = await failure(run({ url: `${server.base}/status?code=404`, errors }));
    expect(notFound.type).toBe('BadRequest');
    expect(notFound.nonRetryable).toBe(true);
    expect(notFound.details?.[0]).toMatchObject({ status: 404 });
    expect((await failure(run({ url: `${server.base}/status?code=502`, errors }))).type).toBe('Upstream');
    expect((await failure(run({ url: `${server.base}/status?code=503`, errors }))).type).toBe('Maintenance');
  });

  it('leaves unnamed statuses and accepted statuses alone', async () => {
    expect((await failure(run({ url: `${server.base}/status?code=500`, errors: { '429': 'RateLimited' } }))).type).toBe('HttpServerError');
    const ok = await run({ url: `${server.base}/status?code=404`, errors, expectStatus: 404 });
    expect((ok.output as { status: number }).status).toBe(404);
  });

  it('rejects keys that are not a status or a status class', async () => {
    const err = await failure(run({ url: `${server.base}/json`, errors: { '42': 'X', '6xx': 'Y' } }));
    expect(err.type).toBe('ConfigError');
    expect(err.message).toMatch(/\/errors\/42/);
  });

  it('counts attempts made before this activity (retry lists retry from the workflow)', async () => {
    const env = newActivityEnv();
    const result = (await env.run(activity, { nodeId: 'n', executionId: 'e', config: { url: `${server.base}/json` }, priorAttempts: 3 })) as NodeActivityResult;
    expect(result.attempt).toBe(5); // 3 before, and this is Temporal's attempt 2
  });
});

describe('http node: config errors name the template that gave nothing', () => {
  it('says which expression yielded null where a string is required', async () => {
    const env = newActivityEnv();
    const err = await failure(
      env.run(activity, {
        nodeId: 'n',
        executionId: 'e',
        config: { url: null },
        emptyTemplates: [{ path: '/url', expression: 'input.baseUrl', value: null }],
      }) as Promise<unknown>,
    );
    expect(err.type).toBe('ConfigError');
    expect(err.message).toContain('/url: Expected string, but the template "{{ input.baseUrl }}" gave null');
  });
});

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Debian's openssl, which writes the test's certificates (node:crypto cannot issue X.509 certificates). */
export const OPENSSL = '/usr/bin/openssl';

/** PEM files in a temporary directory: a CA, the server's pair and a client pair it signed, and a client pair of another CA. */
export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** A client certificate the front does not trust (signed by another CA). */
  strangerCert: string;
  strangerKey: string;
  remove(): void;
}

/** A CA, a server certificate for localhost/127.0.0.1 and client certificates, valid for two days. */
export function createTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'trellis-pki-'));
  const file = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync(OPENSSL, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string, cn: string) =>
    openssl('req', '-x509', ...ecKey, '-keyout', file(`${name}.key`), '-out', file(`${name}.pem`), '-days', '2', '-subj', `/CN=${cn}`,
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  const leaf = (name: string, signer: string, cn: string, extensions: string) => {
    openssl('req', ...ecKey, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`);
    fs.writeFileSync(file(`${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${extensions}\n`);
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file(`${signer}.pem`), '-CAkey', file(`${signer}.key`), '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', '2', '-out', file(`${name}.pem`), '-extfile', file(`${name}.ext`));
  };
  ca('ca', 'trellis test CA');
  leaf('server', 'ca', 'localhost', 'extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1');
  leaf('client', 'ca', 'trellis-worker', 'extendedKeyUsage=clientAuth');
  ca('stranger-ca', 'someone else');
  leaf('stranger', 'stranger-ca', 'trellis-worker', 'extendedKeyUsage=clientAuth');
  return {
    dir,
    caCert: file('ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    strangerCert: file('stranger.pem'),
    strangerKey: file('stranger.key'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsFront {
  /** host:port of the front, for TEMPORAL_ADDRESS. */
  address: string;
  /** gRPC calls let through to the server, and those refused for their API key. */
  readonly forwarded: string[];
  readonly refused: string[];
  /** TLS handshakes that failed (no client certificate, an untrusted one). */
  readonly handshakeErrors: string[];
  close(): Promise<void>;
}

/** Headers HTTP/2 forbids a proxy to pass on (connection-specific), besides the pseudo-headers it rewrites. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']);

function forwardable(headers: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || HOP_BY_HOP.has(name) || value === undefined) continue;
    out[name] = value;
  }
  return out;
}

/**
 * What a Temporal Cloud or mTLS cluster's frontend looks like to a client: gRPC over TLS that
 * requires a client certificate signed by `pki`'s CA and an `authorization: Bearer <apiKey>`
 * header, in front of the plain dev server at `upstream`. Each HTTP/2 stream is passed to the
 * upstream as a stream of its own (headers, body, response headers, body, trailers), so unary
 * calls and long polls behave as they do against the server itself.
 */
export async function startTlsFront(pki: TestPki, apiKey: string, upstream: string): Promise<TlsFront> {
  const forwarded: string[] = [];
  const refused: string[] = [];
  const handshakeErrors: string[] = [];
  const upstreamSession = http2.connect(`http://${upstream}`);
  upstreamSession.on('error', () => undefined); // each stream reports its own failure
  const server = http2.createSecureServer({
    key: fs.readFileSync(pki.serverKey),
    cert: fs.readFileSync(pki.serverCert),
    ca: fs.readFileSync(pki.caCert),
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ['h2'],
  });
  server.on('tlsClientError', (err) => handshakeErrors.push(err.message));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => {
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => {
    const method = String(headers[':path']);
    stream.on('error', () => undefined);
    if (headers.authorization !== `Bearer ${apiKey}`) {
      refused.push(method);
      // A trailers-only gRPC answer: UNAUTHENTICATED.
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'missing or wrong API key' }, { endStream: true });
      return;
    }
    forwarded.push(method);
    const call = upstreamSession.request({
      ...forwardable(headers),
      ':method': String(headers[':method']),
      ':path': method,
      ':scheme': 'http',
      ':authority': upstream,
    });
    let trailers: http2.OutgoingHttpHeaders = {};
    call.on('response', (response) => {
      if (stream.destroyed) return;
      const out = { ...forwardable(response), ':status': response[':status'] ?? 200 };
      // A trailers-only answer (an error) carries grpc-status in its headers and ends there.
      if (response['grpc-status'] !== undefined) return stream.respond(out, { endStream: true });
      stream.respond(out, { waitForTrailers: true });
      call.pipe(stream);
    });
    call.on('trailers', (received) => (trailers = forwardable(received)));
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    call.on('error', () => stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR));
    // The client went away (a cancelled long poll): cancel the upstream call too.
    stream.on('close', () => {
      if (!call.closed) call.close(http2.constants.NGHTTP2_CANCEL);
    });
    stream.pipe(call);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    address: `127.0.0.1:${port}`,
    forwarded,
    refused,
    handshakeErrors,
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Open sessions (a worker's long polls) would hold close() forever.
      for (const session of sessions) session.destroy();
      await closed;
      upstreamSession.destroy();
    },
  };
}

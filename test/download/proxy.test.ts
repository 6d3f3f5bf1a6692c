import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import type { RequestListener } from 'node:http';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { Agent, EnvHttpProxyAgent } from 'undici';
import { NetworkError } from '../../src/core/errors.js';
import { createDispatcher } from '../../src/download/dispatcher.js';
import { createHttpClient, proxyFromEnv } from '../../src/download/http-client.js';
import { EXTRA_CA_ENV, extraCaList } from '../../src/download/extra-ca.js';
import { bypassesProxy, ffmpegProxyEnv, proxyFor } from '../../src/download/proxy-env.js';
import { openTunnel, tunnelAgent } from '../../src/download/proxy-tunnel.js';
import { startOrigin } from '../helpers/http-origin.js';
import { startConnectProxy } from '../helpers/connect-proxy.js';
import { scratchDir } from '../helpers/scratch.js';
import { certificateOrSkip, startHttpsServer } from '../helpers/tls-cert.js';
import { closedPort } from '../helpers/ports.js';

const root = scratchDir('castkit-proxy-');
after(() => rmSync(root, { recursive: true, force: true }));

/** A handler that answers every request with `body`. */
const serve =
  (body: Buffer): RequestListener =>
  (_req, res) => {
    res.writeHead(200, { 'content-length': body.length });
    res.end(body);
  };

/** A wss: server on 127.0.0.1 with the test certificate that sends `greeting` to every client. */
async function startWssServer(
  key: string,
  cert: string,
  greeting: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket) => socket.send(greeting));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** The first message a websocket receives, or its error. */
const firstMessage = (ws: WebSocket): Promise<string> =>
  new Promise<string>((resolve, reject) => {
    ws.once('message', (data) => resolve(String(data)));
    ws.once('error', reject);
  });

describe('proxies for ffmpeg and ffprobe', () => {
  it("hands the proxy of the URL's scheme to ffmpeg as the lower-case http_proxy it reads", () => {
    const env = { HTTPS_PROXY: 'http://s:1', HTTP_PROXY: 'p:2', NO_PROXY: 'cdn.example', PATH: '/bin' };
    const https = ffmpegProxyEnv('https://a.example/x.m3u8', env);
    assert.equal(https?.http_proxy, 'http://s:1');
    assert.equal(https?.no_proxy, 'cdn.example');
    assert.equal(https?.PATH, '/bin', 'the rest of the environment is kept');
    assert.equal(ffmpegProxyEnv('http://a.example/x.ts', env)?.http_proxy, 'http://p:2');
    // https with only an HTTP proxy goes direct, as castkit's own requests do (ffmpeg would use http_proxy).
    const direct = ffmpegProxyEnv('https://a.example/x.ts', { http_proxy: 'http://p:2' });
    assert.ok(direct && !('http_proxy' in direct));
    assert.equal(ffmpegProxyEnv('https://a.example/x.ts', { PATH: '/bin' }), undefined);
  });
});

describe('proxies for clients other than undici (websockets)', () => {
  it('reads NO_PROXY as curl does, and picks the proxy by scheme', () => {
    const no = 'example.org, .cdn.net:8443 [::1] *.internal';
    assert.equal(bypassesProxy('example.org', '443', no), true);
    assert.equal(bypassesProxy('live.example.org', '443', no), true, 'subdomains too');
    assert.equal(bypassesProxy('notexample.org', '443', no), false, 'a suffix is not a subdomain');
    assert.equal(bypassesProxy('a.cdn.net', '8443', no), true);
    assert.equal(bypassesProxy('a.cdn.net', '443', no), false, 'the port is part of that entry');
    assert.equal(bypassesProxy('::1', '80', no), true);
    assert.equal(bypassesProxy('db.internal', '80', no), true);
    assert.equal(bypassesProxy('anything', '80', '*'), true);
    const env = { HTTPS_PROXY: 'http://s:1', HTTP_PROXY: 'http://p:2', NO_PROXY: 'local.test' };
    assert.equal(proxyFor(new URL('wss://a.test/x'), env), 'http://s:1');
    assert.equal(proxyFor(new URL('ws://a.test/x'), env), 'http://p:2');
    assert.equal(proxyFor(new URL('wss://local.test/x'), env), undefined);
    assert.equal(proxyFor(new URL('wss://a.test/x'), { HTTP_PROXY: 'http://p:2' }), undefined);
  });

  it('gives up on a proxy that accepts the connection and never answers CONNECT, and closes it', async () => {
    let closed = false;
    const silent = createNetServer((socket) => {
      socket.resume(); // reads (and drops) what comes, so that it sees the client go away
      socket.on('error', () => undefined);
      socket.on('close', () => (closed = true));
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const proxy = new URL(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`);
    try {
      const err = await new Promise<Error | null>((resolve) =>
        openTunnel(proxy, '127.0.0.1', 9, (e) => resolve(e), 200),
      );
      assert.match(String(err?.message), /did not open the tunnel to 127\.0\.0\.1:9 within 200 ms/);
      for (let i = 0; i < 50 && !closed; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(closed, 'the connection to the proxy was closed');
    } finally {
      await new Promise<void>((r) => silent.close(() => r()));
    }
  });

  it('tunnels a wss: websocket through the proxy, TLS checked against the given CA', async (t) => {
    const tls = certificateOrSkip(t, root);
    if (!tls) return;
    const { key, cert } = tls;
    const server = await startWssServer(key, cert, 'hello through the tunnel');
    const port = server.port;
    const proxy = await startConnectProxy();
    try {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/live`, {
        agent: tunnelAgent(proxy.url, true),
        ca: readFileSync(cert),
      });
      const message = await firstMessage(ws);
      ws.terminate();
      assert.equal(message, 'hello through the tunnel');
      assert.deepEqual(proxy.tunnels, [`127.0.0.1:${port}`]);
      // A proxy that refuses the tunnel: the connection fails saying so.
      const refusing = new WebSocket(`wss://127.0.0.1:${port}/live`, {
        agent: tunnelAgent(`http://127.0.0.1:${await closedPort()}`, true),
      });
      await assert.rejects(
        new Promise((_resolve, reject) => refusing.once('error', reject)),
        /ECONNREFUSED|refused/,
      );
    } finally {
      await proxy.close();
      await server.close();
    }
  });
});

describe('an https:// proxy (TLS to the proxy itself) for websockets', () => {
  it('tunnels ws: and wss: inside TLS to the proxy, whose certificate is checked', async (t) => {
    const tls = certificateOrSkip(t, root);
    if (!tls) return;
    const { key, cert } = tls;
    const server = await startWssServer(key, cert, 'secure hello');
    const securePort = server.port;
    const plain = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    plain.on('connection', (socket) => socket.send('plain hello'));
    await new Promise<void>((r) => plain.once('listening', () => r()));
    const plainPort = (plain.address() as AddressInfo).port;
    const proxy = await startConnectProxy(tls);
    try {
      assert.match(proxy.url, /^https:/);
      const ca = readFileSync(cert);
      const secure = new WebSocket(`wss://127.0.0.1:${securePort}/live`, {
        agent: tunnelAgent(proxy.url, true, { ca }),
        ca,
      });
      assert.equal(await firstMessage(secure), 'secure hello');
      secure.terminate();
      const insecure = new WebSocket(`ws://127.0.0.1:${plainPort}/live`, {
        agent: tunnelAgent(proxy.url, false, { ca }),
      });
      assert.equal(await firstMessage(insecure), 'plain hello');
      insecure.terminate();
      assert.deepEqual(proxy.tunnels, [`127.0.0.1:${securePort}`, `127.0.0.1:${plainPort}`]);
      // The proxy's certificate is not trusted without its CA: no tunnel is asked for.
      const untrusted = new WebSocket(`ws://127.0.0.1:${plainPort}/live`, {
        agent: tunnelAgent(proxy.url, false),
      });
      await assert.rejects(
        firstMessage(untrusted),
        /TLS to the proxy https:\/\/127\.0\.0\.1:\d+\/ failed: self[- ]signed/,
      );
      assert.equal(proxy.tunnels.length, 2);
    } finally {
      await proxy.close();
      plain.close();
      await server.close();
    }
  });
});

describe('proxies from the environment', () => {
  it('uses EnvHttpProxyAgent when HTTPS_PROXY or HTTP_PROXY is set, a plain Agent otherwise', async () => {
    const withProxy = createDispatcher({ env: { HTTPS_PROXY: 'http://127.0.0.1:9' } });
    const withHttp = createDispatcher({ env: { http_proxy: 'proxy.local:3128' } });
    const without = createDispatcher({ env: { NO_PROXY: '*' } });
    try {
      assert.ok(withProxy instanceof EnvHttpProxyAgent);
      assert.ok(withHttp instanceof EnvHttpProxyAgent);
      assert.ok(without instanceof Agent && !(without instanceof EnvHttpProxyAgent));
    } finally {
      await Promise.all([withProxy.close(), withHttp.close(), without.close()]);
    }
    assert.deepEqual(
      proxyFromEnv({ https_proxy: 'http://a:1', HTTPS_PROXY: 'http://b:2', NO_PROXY: 'x.org' }),
      {
        httpProxy: '',
        httpsProxy: 'http://a:1',
        noProxy: 'x.org',
      },
    );
    assert.equal(proxyFromEnv({ HTTP_PROXY: 'proxy.local:3128' })?.httpProxy, 'http://proxy.local:3128');
    assert.equal(proxyFromEnv({}), undefined);
    const c = createHttpClient({ env: { HTTPS_PROXY: 'http://user:pw123@127.0.0.1:9' } });
    assert.deepEqual(c.proxy, { http: undefined, https: 'http://user:****@127.0.0.1:9' });
    // A dispatcher asked for before any request (the ustream site's POSTs) is closed with the client.
    const d = await c.dispatcher();
    assert.ok(d instanceof EnvHttpProxyAgent);
    await c.close();
    assert.equal((d as unknown as { closed: boolean }).closed, true, 'the dispatcher is closed');
  });

  it('tunnels http through HTTP_PROXY with CONNECT, keeping NO_PROXY hosts direct', async () => {
    const origin = await startOrigin();
    const proxy = await startConnectProxy();
    const body = randomBytes(20_000);
    origin.route('/seg.ts', { body });
    const port = new URL(origin.url('/')).port;
    const client = createHttpClient({ env: { HTTP_PROXY: proxy.url } });
    const direct = createHttpClient({ env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
    try {
      assert.ok((await client.fetchBytes(origin.url('/seg.ts'))).equals(body));
      assert.deepEqual(proxy.tunnels, [`127.0.0.1:${port}`]);
      assert.ok((await direct.fetchBytes(origin.url('/seg.ts'))).equals(body));
      assert.equal(proxy.tunnels.length, 1, 'NO_PROXY host went direct');
    } finally {
      await client.close();
      await direct.close();
      await proxy.close();
      await origin.close();
    }
  });

  it('tunnels https through HTTPS_PROXY', async (t) => {
    const tls = certificateOrSkip(t, root);
    if (!tls) return;
    const { key, cert } = tls;
    const body = randomBytes(30_000);
    const server = await startHttpsServer(key, cert, serve(body));
    const port = Number(new URL(server.base).port);
    const proxy = await startConnectProxy();
    const client = createHttpClient({ env: { HTTPS_PROXY: proxy.url }, tls: { ca: readFileSync(cert) } });
    const direct = createHttpClient({ env: {}, tls: { ca: readFileSync(cert) } });
    const untrusting = createHttpClient({ env: {} });
    const url = `https://127.0.0.1:${port}/seg.ts`;
    try {
      assert.ok((await client.fetchBytes(url)).equals(body));
      assert.deepEqual(proxy.tunnels, [`127.0.0.1:${port}`]);
      assert.ok((await direct.fetchBytes(url)).equals(body));
      await assert.rejects(
        untrusting.fetchBytes(url),
        (e: unknown) =>
          e instanceof NetworkError &&
          e.code === 'E_TLS' &&
          !e.retryable &&
          /NODE_EXTRA_CA_CERTS/.test(e.hint ?? ''),
      );
    } finally {
      await client.close();
      await direct.close();
      await untrusting.close();
      await proxy.close();
      await server.close();
    }
  });

  it('trusts the CA file bin/castkit took over from NODE_EXTRA_CA_CERTS, direct and through a proxy', async (t) => {
    const tls = certificateOrSkip(t, root);
    if (!tls) return;
    const { key, cert } = tls;
    const body = randomBytes(20_000);
    const server = await startHttpsServer(key, cert, serve(body));
    const url = `${server.base}/seg.ts`;
    const origin = await startOrigin();
    origin.route('/plain.ts', { body });
    const proxy = await startConnectProxy();
    const saved = process.env[EXTRA_CA_ENV];
    const untrusting = createHttpClient({ env: {} });
    process.env[EXTRA_CA_ENV] = cert;
    const direct = createHttpClient({ env: {} });
    const proxied = createHttpClient({ env: { HTTPS_PROXY: proxy.url } });
    const tlsProxy = await startConnectProxy(tls);
    const viaTlsProxy = createHttpClient({ env: { HTTPS_PROXY: tlsProxy.url } });
    try {
      assert.ok((await direct.fetchBytes(origin.url('/plain.ts'))).equals(body), 'plain http still works');
      assert.ok((await direct.fetchBytes(url)).equals(body));
      assert.ok((await proxied.fetchBytes(url)).equals(body));
      assert.equal(proxy.tunnels.length, 1);
      // An https:// proxy whose certificate the same private CA signed.
      assert.ok((await viaTlsProxy.fetchBytes(url)).equals(body));
      assert.deepEqual(tlsProxy.tunnels, [new URL(url).host]);
      await assert.rejects(
        untrusting.fetchBytes(url),
        (e: unknown) => e instanceof NetworkError && e.code === 'E_TLS',
        'a client made without the variable does not trust the server',
      );
      // Node's own roots are kept beside the extra certificate.
      const list = extraCaList();
      assert.equal(list?.length, rootCertificates.length + 1);
      assert.equal(list?.at(-1), readFileSync(cert, 'utf8'));
    } finally {
      if (saved === undefined) delete process.env[EXTRA_CA_ENV];
      else process.env[EXTRA_CA_ENV] = saved;
      await direct.close();
      await proxied.close();
      await viaTlsProxy.close();
      await tlsProxy.close();
      await untrusting.close();
      await proxy.close();
      await origin.close();
      await server.close();
    }
  });

  it('ignores an extra CA file that cannot be read, with a warning, as Node does', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): number => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const missing = join(root, 'missing-ca.pem');
      assert.equal(extraCaList({ [EXTRA_CA_ENV]: missing }), undefined);
      assert.equal(extraCaList({}), undefined);
      await new Promise((r) => setImmediate(r));
      assert.equal(warnings.length, 1);
      assert.match(warnings[0] ?? '', /Ignoring extra certs from `.*missing-ca\.pem`/);
    } finally {
      process.off('warning', onWarning);
    }
  });
});

/**
 * castkit's HTTP/1.1 on raw sockets (h1-transport.ts), against a server that writes its responses by hand:
 * the framings a real server may use, split at awkward places, and the ways a response can be wrong.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { CastkitError } from '../../src/core/errors.js';
import { createHttpClient, type HttpClient, type HttpClientOptions } from '../../src/download/http-client.js';
import { createH1Transport } from '../../src/download/h1-transport.js';

/** What the server does with one request, on the connection it came over. */
type Script = (s: Socket) => void | Promise<void>;

let server: Server;
let base: string;
const scripts = new Map<string, Script>();
/** Connections the server accepted. */
let accepted = 0;
const sockets = new Set<Socket>();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Writes `data` in pieces of `size` bytes, each its own TCP segment (no delay, a pause between). */
async function dribble(s: Socket, data: Buffer, size: number): Promise<void> {
  for (let at = 0; at < data.length; at += size) {
    s.write(data.subarray(at, at + size));
    await sleep(1);
  }
}

before(async () => {
  server = createServer((s) => {
    accepted++;
    sockets.add(s);
    s.setNoDelay(true);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    let pending = '';
    s.on('data', (d) => {
      pending += d.toString('latin1');
      for (;;) {
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        const path = head.split(' ')[1] ?? '/';
        const script = scripts.get(path);
        if (script) void script(s);
        else s.end('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise((r) => server.close(r));
});

/** Runs `use` with a client made with `options`, and closes the client however `use` ends. */
async function withClient(
  options: HttpClientOptions,
  use: (client: HttpClient) => Promise<void>,
): Promise<void> {
  const client = createHttpClient({ env: {}, ...options });
  try {
    await use(client);
  } finally {
    await client.close();
  }
}

const fails =
  (code: string, message?: RegExp) =>
  (e: unknown): boolean => {
    assert.ok(e instanceof CastkitError, `a CastkitError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (message) assert.match(e.message, message);
    return true;
  };

describe('HTTP/1.1 on raw sockets', () => {
  it('decodes a chunked body cut at every byte, with extensions and trailers, and keeps the connection', async () => {
    const body = randomBytes(3000);
    const parts = [body.subarray(0, 1), body.subarray(1, 1000), body.subarray(1000)];
    const wire = Buffer.concat([
      Buffer.from('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n'),
      ...parts.flatMap((p, i) => [
        Buffer.from(`${p.length.toString(16)}${i === 1 ? ';name=value' : ''}\r\n`),
        p,
        Buffer.from('\r\n'),
      ]),
      Buffer.from('0\r\nx-trailer: yes\r\n\r\n'),
    ]);
    scripts.set('/chunked', (s) => dribble(s, wire, 7));
    await withClient({ connections: 1 }, async (client) => {
      const before = accepted;
      assert.ok((await client.fetchBytes(`${base}/chunked`)).equals(body));
      assert.ok((await client.fetchBytes(`${base}/chunked`)).equals(body));
      assert.equal(accepted - before, 1, 'one connection for both');
    });
  });

  it('skips 100 Continue, reads a body that ends with the connection, and does not reuse an HTTP/1.0 one', async () => {
    const body = randomBytes(5000);
    scripts.set('/continue', (s) => {
      s.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n');
      s.write(body);
    });
    scripts.set('/until-close', async (s) => {
      s.write('HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n');
      await dribble(s, body, 1500);
      s.end();
    });
    scripts.set('/http10', (s) => {
      s.write('HTTP/1.0 200 OK\r\ncontent-length: 5000\r\n\r\n');
      s.write(body);
    });
    await withClient({ connections: 1 }, async (client) => {
      assert.ok((await client.fetchBytes(`${base}/continue`)).equals(body));
      assert.ok((await client.fetchBytes(`${base}/until-close`)).equals(body));
      const before = accepted;
      assert.ok((await client.fetchBytes(`${base}/http10`)).equals(body));
      assert.ok((await client.fetchBytes(`${base}/http10`)).equals(body));
      assert.equal(accepted - before, 2, 'an HTTP/1.0 connection without keep-alive is not used again');
    });
  });

  it('reads a body of known length straight into the memory its reader places, and the next response after it on the same connection', async () => {
    const body = randomBytes(600_000);
    const small = randomBytes(100);
    scripts.set('/placed', async (s) => {
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`);
      await dribble(s, body, 50_000);
    });
    scripts.set(
      '/small',
      (s) =>
        void s.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n'), small])),
    );
    const transport = createH1Transport({ connections: 1, tls: () => ({}) });
    try {
      const signal = new AbortController().signal;
      const target = Buffer.alloc(body.length + 10);
      let kept = 0;
      let inPlace = 0;
      const res = await transport.get(new URL(`${base}/placed`), {}, signal);
      await res.read(
        (chunk) => {
          if (chunk.buffer === target.buffer && chunk.byteOffset === target.byteOffset + kept) inPlace++;
          else chunk.copy(target, kept);
          kept += chunk.length;
        },
        () => target.subarray(kept),
      );
      assert.equal(kept, body.length);
      assert.ok(target.subarray(0, kept).equals(body), 'the body, in order');
      assert.ok(inPlace >= 5, `read in place: ${inPlace} pieces`);
      assert.ok(target.subarray(kept).equals(Buffer.alloc(10)), 'nothing past the body');
      // The next response on that connection goes into the connection's own memory, not past the body.
      const before = accepted;
      const next = await transport.get(new URL(`${base}/small`), {}, signal);
      const pieces: Buffer[] = [];
      await next.read(
        (c) => void pieces.push(Buffer.from(c)),
        () => target.subarray(kept),
      );
      assert.ok(Buffer.concat(pieces).equals(small));
      assert.equal(accepted, before, 'the same connection');
      assert.ok(target.subarray(0, kept).equals(body), 'the first body untouched');
    } finally {
      await transport.close();
    }
    // Through the client: the body is the memory allocate gave, filled in place.
    await withClient({ connections: 1 }, async (client) => {
      let given: Buffer | undefined;
      const got = await client.fetchBytes(`${base}/placed`, {
        allocate: (n) => (given = Buffer.alloc(n)),
      });
      assert.ok(got.equals(body));
      assert.equal(got.buffer, given?.buffer);
    });
  });

  it('refuses malformed responses with a network error naming the fault', async () => {
    scripts.set('/bad-length', (s) => void s.write('HTTP/1.1 200 OK\r\ncontent-length: 12, 13\r\n\r\nhello'));
    scripts.set('/bad-status', (s) => void s.write('SPDY/3 200 OK\r\n\r\n'));
    scripts.set(
      '/bad-chunk',
      (s) => void s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n'),
    );
    scripts.set('/huge-head', (s) => void s.write(`HTTP/1.1 200 OK\r\nx-big: ${'a'.repeat(70_000)}\r\n\r\n`));
    scripts.set('/gzip-te', (s) => void s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\n'));
    await withClient({ timeoutMs: 2000 }, async (client) => {
      await assert.rejects(client.fetchBytes(`${base}/bad-length`), fails('E_NETWORK', /Content-Length/));
      await assert.rejects(client.fetchBytes(`${base}/bad-status`), fails('E_NETWORK', /not an HTTP\/1\.1/));
      await assert.rejects(client.fetchBytes(`${base}/bad-chunk`), fails('E_NETWORK', /chunk size/));
      await assert.rejects(client.fetchBytes(`${base}/huge-head`), fails('E_NETWORK', /larger than/));
      await assert.rejects(client.fetchBytes(`${base}/gzip-te`), fails('E_NETWORK', /Transfer-Encoding/));
    });
  });

  it('a chunked body cut short is an error, not a shorter body', async () => {
    scripts.set('/cut', (s) => {
      s.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n10\r\n0123456789');
      s.end();
    });
    await withClient({ timeoutMs: 2000 }, async (client) => {
      await assert.rejects(
        client.fetchBytes(`${base}/cut`),
        fails('E_NETWORK', /before the end of the body/),
      );
    });
  });

  it('pauses the socket while the reader waits, and hands every byte over in order', async () => {
    const body = randomBytes(4 << 20);
    scripts.set('/big', (s) => {
      s.write(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n`);
      s.write(body);
    });
    const t = createH1Transport({ connections: 2, tls: () => ({}) });
    try {
      const res = await t.get(new URL(`${base}/big`), {}, new AbortController().signal);
      assert.equal(res.statusCode, 200);
      const got: Buffer[] = [];
      let waits = 0;
      await res.read(async (c) => {
        got.push(Buffer.from(c));
        if (got.length % 4 === 0) {
          waits++;
          await sleep(2);
        }
      });
      assert.ok(waits > 0);
      assert.ok(Buffer.concat(got).equals(body));
    } finally {
      await t.close();
    }
  });

  it('a request waiting for a free connection gives up when its signal aborts', async () => {
    scripts.set('/hang', () => undefined);
    const t = createH1Transport({ connections: 1, tls: () => ({}) });
    try {
      const first = new AbortController();
      const hanging = t.get(new URL(`${base}/hang`), {}, first.signal);
      const second = new AbortController();
      const waiting = t.get(new URL(`${base}/hang`), {}, second.signal);
      setTimeout(() => second.abort(), 20);
      await assert.rejects(waiting, (e: Error) => e.name === 'AbortError');
      first.abort();
      await assert.rejects(hanging, (e: Error) => e.name === 'AbortError');
    } finally {
      await t.close();
    }
  });

  it('kept-alive connections do not keep the process alive', async () => {
    scripts.set('/small', (s) => void s.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
    const client = fileURLToPath(new URL('../../src/download/http-client.js', import.meta.url));
    const code = `import { createHttpClient } from ${JSON.stringify(client)};
      const c = createHttpClient({ env: {} });
      const b = await c.fetchBytes(${JSON.stringify(`${base}/small`)});
      process.stdout.write(b.toString());`;
    // Rejects (killed) when the child is still running after 10 s.
    const r = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', code], {
      timeout: 10_000,
    });
    assert.equal(r.stderr, '');
    assert.equal(r.stdout, 'ok');
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import * as undici from 'undici';
import { Agent, buildConnector, EnvHttpProxyAgent, request } from '../../src/download/undici-core.js';
import { startOrigin } from '../helpers/http-origin.js';

describe('undici-core', () => {
  it("gives undici's own classes, loaded without undici's index, with the connect() proxies need", () => {
    assert.equal(Agent, undici.Agent);
    assert.equal(buildConnector, undici.buildConnector);
    assert.equal(EnvHttpProxyAgent, undici.EnvHttpProxyAgent);
    // In a fresh process: the HTTP client loads no undici module until a proxy or a dispatcher needs one
    // (about 15-20 ms of every start), and then not the index (fetch, WebSocket, caches, mocks).
    const src = (m: string): string => fileURLToPath(new URL(`../../src/download/${m}`, import.meta.url));
    const script = `
      import { createRequire } from 'node:module';
      const require = createRequire(import.meta.url);
      const undiciModules = () => Object.keys(require.cache).filter((p) => p.includes('/undici/'));
      const http = await import(${JSON.stringify(src('http-client.js'))});
      const client = http.createHttpClient({ env: {} });
      const atStart = undiciModules().length;
      await client.dispatcher();
      await client.close();
      const loaded = undiciModules();
      const Dispatcher = require('undici/lib/dispatcher/dispatcher.js');
      console.log(JSON.stringify({
        atStart,
        count: loaded.length,
        index: loaded.some((p) => p.endsWith('/undici/index.js')),
        connect: typeof Dispatcher.prototype.connect,
      }));`;
    const out = JSON.parse(
      execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
    );
    assert.equal(out.atStart, 0, 'a client without a proxy loads no undici module');
    assert.ok(out.count > 0, 'the dispatcher loads undici modules');
    assert.equal(out.index, false, "undici's index.js was loaded");
    // What the index would have given dispatchers and the proxy agent needs for its CONNECT tunnels.
    assert.equal(out.connect, 'function', 'dispatchers have no connect() without the index');
  });

  it('requests a URL with a path and a query through a given dispatcher', async () => {
    const origin = await startOrigin();
    origin.route('/a/b.txt', { dynamic: (req) => ({ body: `you asked for ${req.url ?? ''}` }) });
    const agent = new Agent();
    try {
      const res = await request(origin.url('/a/b.txt?x=1&y=%20'), { dispatcher: agent, method: 'GET' });
      assert.equal(res.statusCode, 200);
      assert.equal(await res.body.text(), 'you asked for /a/b.txt?x=1&y=%20');
    } finally {
      await agent.close();
      await origin.close();
    }
  });
});

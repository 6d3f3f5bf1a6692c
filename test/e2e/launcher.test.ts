/**
 * bin/castkit, the command npm installs: it runs dist/cli/main.js and takes NODE_EXTRA_CA_CERTS over
 * (Node 20 would build its root store at every start), while HTTPS connections still trust those
 * certificates.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { REPO, type CliResult } from '../helpers/cli.js';
import { fixture } from '../helpers/fixtures.js';
import { scratchDir } from '../helpers/scratch.js';
import { makeCertificate, startHttpsServer } from '../helpers/tls-cert.js';

const dir = scratchDir('castkit-launcher-');
const BIN = join(REPO, 'bin', 'castkit');

/**
 * Run the launcher (through a symbolic link, as npm installs it, unless `via` names another path to start)
 * with the given environment changes.
 */
function launch(args: string[], env: Record<string, string | undefined>, via?: string): Promise<CliResult> {
  let link = join(dir, 'node_modules-bin-castkit');
  try {
    symlinkSync(BIN, link);
  } catch {
    // made by an earlier call
  }
  if (via !== undefined) link = via;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete childEnv[k];
    else childEnv[k] = v;
  }
  return new Promise((resolve, reject) => {
    const child = spawn(link, args, { env: childEnv, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

describe('bin/castkit (the installed command)', () => {
  let server: Awaited<ReturnType<typeof startHttpsServer>>;
  let cert = '';
  let segment: Buffer;

  before(async () => {
    const made = makeCertificate(dir);
    assert.ok(made.cert, 'openssl makes the test certificate');
    const key = made.key;
    cert = made.cert;
    segment = readFileSync(await fixture('h264-aac.ts'));
    const playlist = [
      '#EXTM3U',
      '#EXT-X-VERSION:3',
      '#EXT-X-TARGETDURATION:3',
      '#EXT-X-MEDIA-SEQUENCE:0',
      '#EXTINF:2.0,',
      's0.ts',
      '#EXT-X-ENDLIST',
      '',
    ].join('\n');
    server = await startHttpsServer(key, cert, (req, res) => {
      if (req.url === '/v.m3u8') {
        res.writeHead(200, { 'content-type': 'application/vnd.apple.mpegurl' });
        res.end(playlist);
      } else if (req.url === '/s0.ts') {
        res.writeHead(200, { 'content-type': 'video/mp2t', 'content-length': segment.length });
        res.end(segment);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
  });

  after(() => server.close());

  it('runs the CLI through a symbolic link, a relative link to that link, and by its own path', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    // Made before the link it points to (the first launch below makes that one): a link may dangle meanwhile.
    const second = join(dir, 'second-link');
    try {
      symlinkSync('node_modules-bin-castkit', second);
    } catch {
      // made by an earlier run
    }
    for (const via of [undefined, second, BIN]) {
      const r = await launch(['--version'], {}, via);
      assert.equal(r.code, 0, `${via ?? 'link'}: ${r.stderr}`);
      assert.equal(r.stdout.trim(), pkg.version);
    }
  });

  it('takes NODE_EXTRA_CA_CERTS over: Node does not load it at start', async () => {
    // Node 20 warns at start about an extra CA file it cannot load; the launcher moved the variable away,
    // so a command that makes no TLS connection prints nothing.
    const missing = join(dir, 'no-such-ca.pem');
    const plain = await new Promise<string>((resolve) => {
      const c = spawn(process.execPath, ['-e', '0'], {
        env: { ...process.env, NODE_EXTRA_CA_CERTS: missing },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let err = '';
      c.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      c.on('close', () => resolve(err));
    });
    assert.match(plain, /Ignoring extra certs/, 'Node itself loads the variable at start');
    const r = await launch(['--version'], { NODE_EXTRA_CA_CERTS: missing });
    assert.equal(r.code, 0);
    assert.equal(r.stderr, '');
  });

  it('records over HTTPS from a server whose CA is only in NODE_EXTRA_CA_CERTS', async () => {
    const out = join(dir, 'trusted.ts');
    const r = await launch(['record', `${server.base}/v.m3u8`, '-o', out, '-q'], {
      NODE_EXTRA_CA_CERTS: cert,
    });
    assert.equal(r.code, 0, r.stderr);
    // One TS rendition is recorded byte for byte.
    assert.ok(readFileSync(out).equals(segment), 'the recording is the segment');
  });

  it('refuses that server without the extra CA (exit 4, a certificate error)', async () => {
    const out = join(dir, 'untrusted.ts');
    const r = await launch(['record', `${server.base}/v.m3u8`, '-o', out, '-q'], {
      NODE_EXTRA_CA_CERTS: undefined,
      CASTKIT_EXTRA_CA_CERTS: undefined,
    });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /certificate/i);
  });
});

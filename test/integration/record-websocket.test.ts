/**
 * recordWebSocket against websocket servers on 127.0.0.1 that push 30 s of real A/V (ffmpeg fixtures):
 * the EvoStream/RDK emulator (fragments of both tracks, and one-sample fragments), plain fMP4 cut into
 * arbitrary messages, and FLV a tag per message. What is made must decode with no error and hold exactly
 * the packets the server sent; stops (duration, abort), a dropped socket and hostile servers are checked
 * the same way.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { recordWebSocket } from '../../src/api/record-websocket.js';
import { CastkitError, FormatError } from '../../src/core/errors.js';
import { WsConnection } from '../../src/sources/websocket/ws-connection.js';
import type { ProgressEvent } from '../../src/core/progress.js';
import { decodeMessages, packets } from '../helpers/media-check.js';
import {
  EVO,
  evoFragmentFrames,
  evoFrame,
  evoMoovFrame,
  parseFlv,
  parseFmp4,
  startScriptedServer,
  startStreamEmulator,
  wsFixtures,
  type EmulatorFraming,
  type StreamEmulator,
} from '../helpers/ws-servers.js';
import { scratchDir } from '../helpers/scratch.js';

const dir = scratchDir('castkit-ws-');
let n = 0;
const outPath = (ext = '.mp4'): string => join(dir, `out-${n++}${ext}`);
let fx: { mp4: string; fmp4: string; flv: string };
const emulators: StreamEmulator[] = [];

before(async () => {
  fx = await wsFixtures(30);
});
after(async () => {
  for (const e of emulators) await e.close();
});

async function emulator(
  framing: EmulatorFraming,
  extra: Partial<Parameters<typeof startStreamEmulator>[0]> = {},
) {
  const e = await startStreamEmulator({ framing, source: framing === 'flv' ? fx.flv : fx.fmp4, ...extra });
  emulators.push(e);
  return e;
}

async function counts(path: string): Promise<{ video: number; audio: number }> {
  const ps = await packets(path);
  return {
    video: ps.filter((p) => p.type === 'video').length,
    audio: ps.filter((p) => p.type === 'audio').length,
  };
}

/** Nothing of the recording is left beside the outputs but the outputs and their gap reports. */
function assertNoSpoolLeft(): void {
  const left = readdirSync(dir).filter((f) => f.startsWith('.'));
  assert.deepEqual(left, [], 'spooled recording files are removed');
}

async function assertDecodes(path: string): Promise<void> {
  assert.equal(await decodeMessages(path), '', 'ffmpeg -v error decodes the output without a message');
}

describe('recordWebSocket: 30 s of A/V from each kind of server', { timeout: 180_000 }, () => {
  const cases: { framing: EmulatorFraming; label: string; extra?: object }[] = [
    { framing: 'evo', label: 'EvoStream progressive framing, fragments of both tracks' },
    { framing: 'evo-per-sample', label: 'EvoStream progressive framing, a fragment per sample (RDK server)' },
    { framing: 'fmp4', label: 'plain fMP4 cut into 7000-byte messages', extra: { chunkBytes: 7000 } },
    { framing: 'flv', label: 'FLV, a tag per message' },
  ];
  for (const c of cases) {
    it(`${c.label} -> MP4 with every packet sent`, async () => {
      const em = await emulator(c.framing, c.extra);
      const output = outPath();
      const progress: ProgressEvent[] = [];
      const r = await recordWebSocket(em.url, { output, onProgress: (e) => progress.push(e) });
      assert.equal(r.stopReason, 'ended');
      assert.equal(r.framing, c.framing === 'evo-per-sample' ? 'evo' : c.framing);
      assert.equal(r.format, 'mp4');
      assert.equal(r.connections, 1);
      assert.deepEqual(r.gaps, []);
      assert.equal(em.connections.length, 1);
      const sent = em.connections[0]!;
      assert.equal(sent.end, 'ended');
      assert.deepEqual({ video: sent.video, audio: sent.audio }, em.totals, 'the server sent the whole clip');
      assert.ok(em.totals.video >= 890 && em.totals.audio >= 1390, JSON.stringify(em.totals));
      await assertDecodes(output);
      assert.deepEqual(await counts(output), em.totals, 'output packets = packets sent');
      assert.ok(Math.abs(r.durationSec - 30) < 0.2, `duration ${r.durationSec}`);
      const tracks = r.tracks.map((t) => `${t.kind}:${t.codec}:${t.samples}`).sort();
      assert.deepEqual(tracks, [`audio:aac:${em.totals.audio}`, `video:avc:${em.totals.video}`]);
      assert.ok(r.bytesIn > 500_000, `bytesIn ${r.bytesIn}`);
      const rec = progress.filter((e) => e.phase === 'record');
      assert.ok(rec.length >= 2, 'record progress while recording');
      assert.ok(Math.abs(rec[rec.length - 1]!.done - 30) < 0.2, `recorded ${rec[rec.length - 1]!.done} s`);
      assert.ok(progress.some((e) => e.phase === 'receive' && e.unit === 'bytes' && e.done > 0));
      assertNoSpoolLeft();
    });
  }

  it('FLV stream -> .flv output (joined as FLV), headers, Origin and a first message reach the server', async () => {
    const em = await emulator('flv', { waitFor: 'ping' });
    const output = outPath('.flv');
    const r = await recordWebSocket(em.url, {
      output,
      headers: { 'X-Castkit-Test': 'yes', 'User-Agent': 'castkit-test' },
      origin: 'https://trafficview.example',
      sendOnOpen: 'ping',
    });
    const c = em.connections[0]!;
    assert.equal(c.headers['x-castkit-test'], 'yes');
    assert.equal(c.headers['user-agent'], 'castkit-test');
    assert.equal(c.headers.origin, 'https://trafficview.example');
    assert.deepEqual(c.received, ['ping']);
    assert.equal(r.format, 'flv');
    assert.equal(readFileSync(output).subarray(0, 3).toString(), 'FLV');
    await assertDecodes(output);
    assert.deepEqual(await counts(output), em.totals);
    assertNoSpoolLeft();
  });
});

/** The n such that units [0, n) hold exactly these packet counts, or -1. */
function unitsHolding(em: StreamEmulator, got: { video: number; audio: number }): number {
  for (let k = 0; k <= em.units; k++) {
    const p = em.packetsIn(k);
    if (p.video === got.video && p.audio === got.audio) return k;
  }
  return -1;
}

describe('recordWebSocket: stopping', { timeout: 120_000 }, () => {
  it('--duration 10 stops after the fragment that reaches 10 s, closing the socket', async () => {
    const em = await emulator('evo');
    const output = outPath();
    const r = await recordWebSocket(em.url, { output, duration: 10 });
    assert.equal(r.stopReason, 'duration');
    await assertDecodes(output);
    const got = await counts(output);
    const k = unitsHolding(em, got);
    assert.ok(k > 0, `the output is whole fragments from the start (${JSON.stringify(got)})`);
    assert.ok(em.unitTime(k - 1) < 10 && em.unitTime(k) >= 9.9, `stopped after fragment ${k}`);
    assert.ok(r.durationSec >= 9.9 && r.durationSec < 11.2, `duration ${r.durationSec}`);
    await waitFor(() => em.connections[0]!.end !== 'open');
    assert.equal(em.connections[0]!.end, 'client-closed');
    assert.ok(em.connections[0]!.units.length < em.units, 'the server had more to send');
    assertNoSpoolLeft();
  });

  it('an FLV --duration stop cuts at a tag', async () => {
    const em = await emulator('flv');
    const output = outPath();
    const r = await recordWebSocket(em.url, { output, duration: 5 });
    assert.equal(r.stopReason, 'duration');
    await assertDecodes(output);
    assert.ok(r.durationSec >= 4.9 && r.durationSec < 5.3, `duration ${r.durationSec}`);
  });

  it('an AbortSignal stops at the last complete fragment and still writes a valid file', async () => {
    const em = await emulator('evo', { speed: 5 });
    const output = outPath();
    const ac = new AbortController();
    const r = await recordWebSocket(em.url, {
      output,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.phase === 'record' && e.done >= 5) ac.abort();
      },
    });
    assert.equal(r.stopReason, 'aborted');
    await assertDecodes(output);
    const got = await counts(output);
    const k = unitsHolding(em, got);
    assert.ok(k >= 5 && k < em.units, `whole fragments up to the stop: ${k} (${JSON.stringify(got)})`);
    assertNoSpoolLeft();
  });

  it('an AbortSignal before any media is an InterruptedError, and leaves nothing', async () => {
    const em = await emulator('evo');
    const output = outPath();
    await assert.rejects(recordWebSocket(em.url, { output, signal: AbortSignal.abort() }), {
      name: 'InterruptedError',
      category: 'interrupted',
    });
    assert.equal(existsSync(output), false);
    assertNoSpoolLeft();
  });
});

describe('recordWebSocket: a dropped socket', { timeout: 120_000 }, () => {
  for (const framing of ['evo', 'fmp4', 'flv'] as const) {
    it(`${framing}: reconnects, continues into the same output, and reports the gap`, async () => {
      const afterUnits = framing === 'flv' ? 600 : 8;
      const em = await emulator(framing, { drops: [{ connection: 1, afterUnits, partialMessages: 3 }] });
      const output = outPath();
      const warnings: string[] = [];
      const r = await recordWebSocket(em.url, {
        output,
        reconnectDelay: { baseMs: 400, capMs: 400 },
        random: () => 0.99,
        onWarning: (_m, code) => warnings.push(code),
      });
      assert.equal(em.connections.length, 2);
      const [c1, c2] = em.connections as [(typeof em.connections)[0], (typeof em.connections)[0]];
      assert.equal(c1.end, 'dropped');
      assert.equal(c2.end, 'ended');
      assert.ok(c2.units[0]! > c1.units[c1.units.length - 1]! + 1, 'the stream went on while we were away');
      assert.equal(r.connections, 2);
      assert.equal(r.stopReason, 'ended');
      await assertDecodes(output);
      assert.deepEqual(
        await counts(output),
        { video: c1.video + c2.video, audio: c1.audio + c2.audio },
        'the output has the data of both connections, no more',
      );
      // The gap: where, how long, why.
      assert.equal(r.gaps.length, 1);
      const g = r.gaps[0]!;
      assert.equal(g.connection, 2);
      assert.equal(g.code, 'E_WS_DROPPED');
      const firstLost = c1.units[c1.units.length - 1]! + 1;
      const heldSec = em.unitTime(firstLost) - em.unitTime(0);
      assert.ok(Math.abs(g.atSec - heldSec) < 0.15, `gap at ${g.atSec} s, expected ${heldSec}`);
      const missing = em.unitTime(c2.units[0]!) - em.unitTime(firstLost);
      assert.ok(
        g.missingSec !== undefined && Math.abs(g.missingSec - missing) < 0.15,
        `missing ${g.missingSec}`,
      );
      assert.ok(g.disconnectedSec > 0.3, `disconnected ${g.disconnectedSec}`);
      assert.ok(warnings.includes('W_WS_DROPPED') && warnings.includes('W_WS_RECONNECT'), warnings.join());
      if (framing === 'evo') assert.ok(warnings.includes('W_EVO_JOIN_SKIPPED'), 'joined inside a fragment');
      assert.equal(r.gapReport, `${output}.gaps.json`);
      const report = JSON.parse(readFileSync(r.gapReport!, 'utf8'));
      assert.equal(report.castkit, 'gap-report');
      assert.equal(report.missing.length, 1);
      assert.equal(report.missing[0].code, 'E_WS_DROPPED');
      assert.equal(report.missing[0].startSec, g.atSec);
      assert.equal(report.missing[0].durationSec, g.missingSec);
      assert.match(report.missing[0].url, /^ws:\/\/127\.0\.0\.1:/);
      assertNoSpoolLeft();
    });
  }

  it('with reconnect off, a drop ends the recording: the media before it is kept, then the error', async () => {
    const em = await emulator('evo', { drops: [{ connection: 1, afterUnits: 4, partialMessages: 10 }] });
    const output = outPath();
    const err = await rejection(recordWebSocket(em.url, { output, reconnect: false }));
    assert.equal(err.code, 'E_WS_DROPPED');
    assert.equal(err.details.partialOutput, output);
    assert.equal(em.connections.length, 1);
    await assertDecodes(output);
    assert.deepEqual(await counts(output), em.packetsIn(4));
    assertNoSpoolLeft();
  });
});

async function rejection(p: Promise<unknown>): Promise<CastkitError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CastkitError, `a CastkitError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) assert.fail('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('recordWebSocket: hostile servers', { timeout: 120_000 }, () => {
  it('a garbage first message is a typed error that says what was seen', async () => {
    const s = await startScriptedServer((ws) =>
      ws.send(Uint8Array.of(0xde, 0xad, 0xbe, 0xef, ...new Uint8Array(60))),
    );
    try {
      const output = outPath();
      const err = await rejection(recordWebSocket(s.url, { output }));
      assert.equal(err.code, 'E_WS_UNKNOWN_FRAMING');
      assert.equal(err.category, 'input');
      assert.match(err.message, /binary message of 64 bytes starting de ad be ef 00/);
      assert.ok(err.hint);
      assert.equal(s.connections(), 1, 'not retried');
      assert.equal(existsSync(output), false);
      assertNoSpoolLeft();
    } finally {
      await s.close();
    }
  });

  it('text messages and no media: an error naming the first one', async () => {
    const s = await startScriptedServer((ws) => {
      for (let i = 0; i < 12; i++) ws.send(JSON.stringify({ cmd: 'status', i }));
    });
    try {
      const err = await rejection(recordWebSocket(s.url, { output: outPath() }));
      assert.equal(err.code, 'E_WS_UNKNOWN_FRAMING');
      assert.match(
        err.message,
        /text messages and no media \(the first: a text message of \d+ bytes: "\{"cmd":"status","i":0\}"\)/,
      );
    } finally {
      await s.close();
    }
  });

  it('a truncated EvoStream frame: a FormatError; the fragments before it are kept', async () => {
    const p = parseFmp4(new Uint8Array(readFileSync(fx.fmp4)));
    const s = await startScriptedServer((ws) => {
      ws.send(evoMoovFrame(p));
      for (const f of p.fragments.slice(0, 3)) for (const m of evoFragmentFrames(f)) ws.send(m);
      const next = evoFragmentFrames(p.fragments[3]!);
      ws.send(next[0]!);
      ws.send(next[1]!.subarray(0, 100)); // its size field says more
    });
    try {
      const output = outPath();
      const err = await rejection(recordWebSocket(s.url, { output }));
      assert.ok(err instanceof FormatError);
      assert.equal(err.code, 'E_EVO_FRAME_SIZE');
      assert.match(err.message, /declares \d+ payload bytes but the message has 96/);
      assert.equal(err.details.partialOutput, output);
      assert.equal(s.connections(), 1, 'a framing error is not retried');
      await assertDecodes(output);
      const sent = p.fragments.slice(0, 3).flatMap((f) => f.samples);
      assert.deepEqual(await counts(output), {
        video: sent.filter((x) => x.kind === 'video').length,
        audio: sent.filter((x) => x.kind === 'audio').length,
      });
      assertNoSpoolLeft();
    } finally {
      await s.close();
    }
  });

  it('a truncated first frame (a HEADER_MOOV cut short) and an END without HEADER_MDAT', async () => {
    const p = parseFmp4(new Uint8Array(readFileSync(fx.fmp4)));
    const s = await startScriptedServer((ws, i) => {
      if (i === 1) {
        ws.send(evoMoovFrame(p).subarray(0, 200));
      } else {
        ws.send(evoMoovFrame(p));
        ws.send(evoFrame(EVO.BEGIN));
        ws.send(evoFrame(EVO.VIDEO, new Uint8Array(50)));
        ws.send(evoFrame(EVO.END));
      }
    });
    try {
      let err = await rejection(recordWebSocket(s.url, { output: outPath() }));
      assert.equal(err.code, 'E_EVO_FRAME_SIZE');
      assert.match(err.message, /HEADER_MOOV \(0xfa\) frame declares/);
      err = await rejection(recordWebSocket(s.url, { output: outPath() }));
      assert.equal(err.code, 'E_EVO_NO_MDAT');
      assertNoSpoolLeft();
    } finally {
      await s.close();
    }
  });

  it('plain fMP4 and FLV streams that end inside a fragment or a tag keep what is whole', async () => {
    const p = parseFmp4(new Uint8Array(readFileSync(fx.fmp4)));
    const flv = parseFlv(new Uint8Array(readFileSync(fx.flv)));
    const s = await startScriptedServer((ws, i) => {
      if (i === 1) {
        ws.send(p.init);
        for (const f of p.fragments.slice(0, 2)) ws.send(Buffer.concat([f.moof, f.mdat]));
        ws.send(p.fragments[2]!.moof);
        ws.send(p.fragments[2]!.mdat.subarray(0, 500));
      } else {
        ws.send(flv.header);
        for (const t of flv.config) ws.send(t);
        for (const t of flv.tags.slice(0, 100)) ws.send(t.bytes);
        ws.send(flv.tags[100]!.bytes.subarray(0, 20));
      }
      setTimeout(() => ws.close(1000), 50);
    });
    try {
      const mp4 = outPath();
      const w1: string[] = [];
      await recordWebSocket(s.url, { output: mp4, onWarning: (_m, c) => w1.push(c) });
      assert.ok(w1.includes('W_WS_PARTIAL'), w1.join());
      await assertDecodes(mp4);
      const sent = p.fragments.slice(0, 2).flatMap((f) => f.samples);
      assert.deepEqual(await counts(mp4), {
        video: sent.filter((x) => x.kind === 'video').length,
        audio: sent.filter((x) => x.kind === 'audio').length,
      });
      const out2 = outPath();
      const w2: string[] = [];
      await recordWebSocket(s.url, { output: out2, onWarning: (_m, c) => w2.push(c) });
      assert.ok(w2.includes('W_WS_PARTIAL'), w2.join());
      await assertDecodes(out2);
      const tags = flv.tags.slice(0, 100);
      assert.deepEqual(await counts(out2), {
        video: tags.filter((x) => x.kind === 'video').length,
        audio: tags.filter((x) => x.kind === 'audio').length,
      });
      assertNoSpoolLeft();
    } finally {
      await s.close();
    }
  });

  it('a refused handshake (HTTP 403) is a network error that is not retried', async () => {
    const { WebSocketServer } = await import('ws');
    let tries = 0;
    const wss = new WebSocketServer({
      host: '127.0.0.1',
      port: 0,
      verifyClient: (_info, cb) => {
        tries++;
        cb(false, 403, 'Forbidden');
      },
    });
    await new Promise((r) => wss.once('listening', r));
    try {
      const port = (wss.address() as { port: number }).port;
      const err = await rejection(
        recordWebSocket(`ws://user:secret@127.0.0.1:${port}/x`, { output: outPath() }),
      );
      assert.equal(err.code, 'E_WS_HANDSHAKE');
      assert.equal(err.category, 'network');
      assert.equal(err.retryable, false);
      assert.equal(err.details.status, 403);
      assert.doesNotMatch(err.message, /secret/, 'credentials are masked');
      assert.equal(tries, 1);
    } finally {
      await new Promise((r) => wss.close(r));
    }
  });

  it('nobody listening: bounded reconnection attempts, then E_WS_GAVE_UP', async () => {
    const port = await new Promise<number>((resolve) => {
      const srv = createServer();
      srv.listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const retries: string[] = [];
    const err = await rejection(
      recordWebSocket(`ws://127.0.0.1:${port}/x`, {
        output: outPath(),
        maxReconnects: 2,
        reconnectDelay: { baseMs: 10, capMs: 20 },
        onWarning: (_m, c) => retries.push(c),
      }),
    );
    assert.equal(err.code, 'E_WS_GAVE_UP');
    assert.equal((err.cause as CastkitError).code, 'E_WS_CONNECT');
    assert.deepEqual(retries, ['W_WS_RECONNECT', 'W_WS_RECONNECT']);
  });

  it('a server that goes quiet: a stall error (no reconnect asked)', async () => {
    const p = parseFmp4(new Uint8Array(readFileSync(fx.fmp4)));
    const s = await startScriptedServer((ws) => ws.send(evoMoovFrame(p)));
    try {
      const err = await rejection(
        recordWebSocket(s.url, { output: outPath(), stallTimeout: 0.3, reconnect: false }),
      );
      assert.equal(err.code, 'E_WS_STALL');
    } finally {
      await s.close();
    }
  });

  it('a server that closes at once, an FLV output for an fMP4 stream, and bad options', async () => {
    const s = await startScriptedServer((ws) => ws.close(1000, 'bye'));
    try {
      const err = await rejection(recordWebSocket(s.url, { output: outPath() }));
      assert.equal(err.code, 'E_WS_NO_MEDIA');
    } finally {
      await s.close();
    }
    const em = await emulator('evo');
    const err = await rejection(recordWebSocket(em.url, { output: outPath('.flv') }));
    assert.equal(err.code, 'E_OUTPUT_FORMAT');
    assert.equal(err.category, 'usage');
    await assert.rejects(recordWebSocket('http://127.0.0.1/x', { output: outPath() }), { code: 'E_USAGE' });
    await assert.rejects(recordWebSocket(em.url, { output: outPath('.avi') }), { code: 'E_OUTPUT_FORMAT' });
    await assert.rejects(recordWebSocket(em.url, { output: outPath(), duration: -1 }), { code: 'E_USAGE' });
    assertNoSpoolLeft();
  });
});

describe('websocket connection: bounded memory', { timeout: 60_000 }, () => {
  it('a slow reader pauses the socket: what waits stays near the high-water mark', async () => {
    const count = 400;
    const size = 64 * 1024;
    const s = await startScriptedServer((ws) => {
      for (let i = 0; i < count; i++) {
        const m = new Uint8Array(size);
        new DataView(m.buffer).setUint32(0, i);
        ws.send(m);
      }
      ws.close(1000);
    });
    try {
      const conn = await WsConnection.open(s.url, { highWaterBytes: 1 << 20 });
      let got = 0;
      let maxPending = 0;
      for (;;) {
        maxPending = Math.max(maxPending, conn.pendingBytes);
        const m = await conn.next();
        if (!m) break;
        assert.equal(new DataView(m.data.buffer, m.data.byteOffset).getUint32(0), got, 'in order');
        got++;
        if (got % 8 === 0) await new Promise((r) => setTimeout(r, 2));
      }
      assert.equal(got, count, 'every message arrives');
      assert.ok(maxPending < 3 << 20, `at most ${maxPending} bytes waited (25 MB were sent)`);
    } finally {
      await s.close();
    }
  });

  it('a message over the size limit closes the connection with a final error', async () => {
    const p = parseFmp4(new Uint8Array(readFileSync(fx.fmp4)));
    const s = await startScriptedServer((ws) => ws.send(evoMoovFrame(p)));
    try {
      const err = await rejection(recordWebSocket(s.url, { output: outPath(), maxMessageBytes: 256 }));
      assert.equal(err.code, 'E_WS_MESSAGE_TOO_LARGE');
      assert.equal(err.retryable, false);
      assert.equal(s.connections(), 1);
    } finally {
      await s.close();
    }
  });
});

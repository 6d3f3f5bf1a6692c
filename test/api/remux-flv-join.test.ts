import assert from 'node:assert/strict';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isFlvJoin, remux } from '../../src/api/remux.js';
import { decodeAmf0All, isAmfObject, type AmfObject } from '../../src/formats/flv/amf0.js';
import { FlvTagReader, type FlvTagView } from '../../src/formats/flv/flv-reader.js';
import { PACKET_FRAME, TAG_SCRIPT, TAG_VIDEO } from '../../src/formats/flv/flv-tags.js';
import { flvHeader } from '../../src/formats/flv/flv-writer.js';
import {
  aacTag,
  ASC_48K_STEREO,
  avcTag,
  concat,
  FAKE_AVCC,
  metadataTag,
  payload,
} from '../formats/flv/flv-synth.js';
import { scratchDir } from '../helpers/scratch.js';

/** A chunk of 10 video frames of 100 kB (1 s, timestamps from 0), a keyframe every `keyEvery` frames. */
function chunk(n: number, keyEvery: number): Uint8Array {
  const parts = [
    flvHeader({ audio: true, video: true }),
    metadataTag({ duration: 1, framerate: 10, videocodecid: 7, audiocodecid: 10 }),
    avcTag(0, 0, 0, true, FAKE_AVCC),
    aacTag(0, 0, ASC_48K_STEREO),
  ];
  for (let i = 0; i < 10; i++) {
    parts.push(avcTag(i * 100, 1, 0, i % keyEvery === 0, payload(n * 100 + i, 100_000)));
    parts.push(aacTag(i * 100, 1, payload(1_000_000 + n * 100 + i, 300)));
  }
  return concat(parts);
}

interface Tag {
  type: number;
  keyframe: boolean;
  offset: number;
  timestamp: number;
}

function tagsOf(bytes: Uint8Array): { tags: Tag[]; meta: AmfObject | undefined } {
  const tags: Tag[] = [];
  let meta: AmfObject | undefined;
  const sink = {
    tag: (t: FlvTagView) => {
      if (t.type === TAG_SCRIPT) {
        const md = decodeAmf0All(t.buf.subarray(t.at, t.at + t.dataSize))[1];
        if (md !== undefined && isAmfObject(md)) meta ??= md;
      } else if (t.media.packet === PACKET_FRAME) {
        tags.push({ type: t.type, keyframe: t.media.keyframe, offset: t.tagOffset, timestamp: t.timestamp });
      }
    },
    warning: (w: { message: string }) => assert.fail(w.message),
  };
  const r = new FlvTagReader();
  r.push(bytes, sink);
  r.end(sink);
  return { tags, meta };
}

describe('remux: joining FLV chunks (the room for the onMetaData)', () => {
  const dir = scratchDir('castkit-join-head-');

  for (const [name, firstKeys, laterKeys] of [
    ['keyframes as the first chunks have them', 5, 5],
    ['the first chunks with fewer keyframes than the rest (the room estimated too small)', 10, 1],
  ] as const) {
    it(name, async () => {
      // 1 MB chunks: the room is reserved after the first, from its keyframes.
      const inputs: string[] = [];
      for (let n = 0; n < 12; n++) {
        const path = join(dir, `${name.length}-${String(n).padStart(3, '0')}.flv`);
        writeFileSync(path, chunk(n, n < 2 ? firstKeys : laterKeys));
        inputs.push(path);
      }
      const output = join(dir, `${name.length}.flv`);
      const r = await remux(inputs, { output });
      assert.equal(r.join?.restarts, 11);
      const out = new Uint8Array(readFileSync(output));
      const { tags, meta } = tagsOf(out);
      const video = tags.filter((t) => t.type === TAG_VIDEO);
      assert.equal(video.length, 120);
      assert.equal(tags.length, 240);
      // Continuous timestamps, 100 ms apart.
      assert.deepEqual(
        video.map((t) => t.timestamp),
        video.map((_, i) => i * 100),
      );
      // The keyframe index points at every keyframe, in the file as written.
      const keys = video.filter((t) => t.keyframe);
      assert.equal(keys.length, 2 * (10 / firstKeys) + 10 * (10 / laterKeys));
      const index = meta?.keyframes as AmfObject;
      assert.deepEqual(
        index.filepositions,
        keys.map((t) => t.offset),
      );
      assert.deepEqual(
        index.times,
        keys.map((t) => t.timestamp / 1000),
      );
      assert.equal(meta?.filesize, out.length);
      assert.deepEqual(
        readdirSync(dir).filter((f) => f.endsWith('.part')),
        [],
      );
    });
  }
});

describe('isFlvJoin', () => {
  it('is true for several FLV chunks to an .flv, and false otherwise', () => {
    const dir = scratchDir('castkit-is-flv-join-');
    const a = join(dir, 'a.flv');
    const b = join(dir, 'b.flv');
    const ts = join(dir, 'c.ts');
    writeFileSync(a, chunk(0, 5));
    writeFileSync(b, chunk(1, 5));
    writeFileSync(ts, new Uint8Array(188 * 4).fill(0x47));
    assert.equal(isFlvJoin([a, b], { output: join(dir, 'o.flv') }), true);
    assert.equal(isFlvJoin([a, b], { output: join(dir, 'o.bin'), format: 'flv' }), true);
    assert.equal(isFlvJoin([a], { output: join(dir, 'o.flv') }), false, 'one input');
    assert.equal(isFlvJoin([a, b], { output: join(dir, 'o.mp4') }), false, 'another output');
    assert.equal(isFlvJoin([a, b], { output: join(dir, 'o.flv'), merge: true }), false, '--merge');
    assert.equal(isFlvJoin([ts, a], { output: join(dir, 'o.flv') }), false, 'not FLV first');
    assert.equal(isFlvJoin([join(dir, 'none.flv'), a], { output: join(dir, 'o.flv') }), false, 'missing');
    assert.equal(isFlvJoin([a, b], { output: join(dir, 'o.xyz') }), false, 'unknown extension');
  });
});

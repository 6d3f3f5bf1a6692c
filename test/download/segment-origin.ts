/** A test origin serving N segments of seeded random bytes, and what a download of them must produce. */
import { randomBytes } from 'node:crypto';
import type { Segment } from '../../src/download/scheduler.js';
import { startOrigin, type Origin } from '../helpers/http-origin.js';

export interface SegmentOrigin {
  origin: Origin;
  segments: Segment[];
  bodies: Buffer[];
  /** The path of segment i, as the origin logs it. */
  path(i: number): string;
  /** How many GET requests reached each path. */
  hits(): Map<string, number>;
  close(): Promise<void>;
}

export async function startSegmentOrigin(count: number, size = 8 * 1024): Promise<SegmentOrigin> {
  const origin = await startOrigin();
  const path = (i: number): string => `/seg/${String(i).padStart(5, '0')}.ts`;
  const bodies: Buffer[] = [];
  const segments: Segment[] = [];
  for (let i = 0; i < count; i++) {
    // Sizes vary so that a segment committed in the wrong place cannot go unnoticed.
    const body = randomBytes(size + ((i * 7919) % 997));
    bodies.push(body);
    origin.route(path(i), { body });
    segments.push({ key: `seg-${i}`, url: origin.url(path(i)) });
  }
  return {
    origin,
    segments,
    bodies,
    path,
    hits: () => {
      const m = new Map<string, number>();
      for (const r of origin.requests) if (r.method === 'GET') m.set(r.path, (m.get(r.path) ?? 0) + 1);
      return m;
    },
    close: () => origin.close(),
  };
}

/** Collects onSegment calls. */
export function collector(): {
  keys: string[];
  chunks: Buffer[];
  onSegment: (key: string, bytes: Buffer) => void;
  joined(): Buffer;
} {
  const keys: string[] = [];
  const chunks: Buffer[] = [];
  return {
    keys,
    chunks,
    onSegment: (key, bytes) => {
      keys.push(key);
      chunks.push(bytes);
    },
    joined: () => Buffer.concat(chunks),
  };
}

import { writevSync, writeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/**
 * The most a single write system call is given. From 2 MB up, Linux fills the page cache with 2 MB folios,
 * each from a free 2 MB block of memory; on a VM that hands such blocks back to its host (virtio-balloon
 * free page reporting, as on the machines here), taking them again is slow: `dd` writing 2 GB after 2 GB
 * was freed spent 2.3-3.6 s in the kernel with 2 MB or 8 MB writes, and 0.5 s with 1 MB (0.8 s with 128 KB).
 * castkit's 8 MB writes made its 2 GB remuxes spend 2.5-5.4 s in the kernel where ffmpeg (32 KB writes)
 * spent 1.1-1.8 s.
 */
export const WRITE_CALL_MAX = 1 << 20;

/**
 * The size of the blocks inputs are read in and outputs gathered in before they are written. Small enough
 * to stay in the processor's caches between the kernel's copy and castkit's: on the 2-core VM here, 4 MB
 * read chunks and 4 MB output blocks made a 117 MB FLV -> MP4 remux take 309 ms (median of 15 interleaved
 * runs) where 1 MB took 258 ms and 15% less CPU; fMP4 -> MP4 (8 MB output blocks) 276 -> 235-249 ms.
 */
export const IO_BLOCK = 1 << 20;

/**
 * Write all of `data` at `position`, in calls of at most WRITE_CALL_MAX bytes, all started at once. Calls
 * made one after another would each be started only when the caller next comes back to the event loop: a
 * remux demuxing synchronously between its awaits then found its previous 4 MB block still three quarters
 * unwritten, and waited (216-230 ms of a 1.2 s, 607 MB TS -> MP4, by hand). Started together, the thread pool
 * writes them while the caller goes on. `open()`, when given, is asked before the calls start and before
 * the rest of a short write: a file closed meanwhile (an interrupted output being thrown away; closing waits
 * for the calls in progress) gets no more calls.
 */
export async function writeAllAt(
  handle: FileHandle,
  data: Uint8Array,
  position: number,
  open: () => boolean = () => true,
): Promise<void> {
  if (!open()) return;
  const calls: Promise<void>[] = [];
  for (let off = 0; off < data.length; off += WRITE_CALL_MAX) {
    const n = Math.min(WRITE_CALL_MAX, data.length - off);
    calls.push(writeRange(handle, data, off, off + n, position + off, open));
  }
  await Promise.all(calls);
}

/** Bytes [from, to) of `data` at `position`; a short write (rare for a file) is continued. */
async function writeRange(
  handle: FileHandle,
  data: Uint8Array,
  from: number,
  to: number,
  position: number,
  open: () => boolean,
): Promise<void> {
  let off = from;
  let at = position;
  for (;;) {
    const { bytesWritten } = await handle.write(data, off, to - off, at);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} at byte ${at}`);
    off += bytesWritten;
    at += bytesWritten;
    if (off >= to || !open()) return;
  }
}

/**
 * Write `parts` one after another at `position`, gathered (writev) into calls of at most WRITE_CALL_MAX
 * bytes and IOV_MAX parts, all started at once as writeAllAt's are. The parts are views of the caller's
 * memory, which must stay as it is until this settles. A short write (rare for a file) is finished part
 * by part.
 */
export async function writevAllAt(
  handle: FileHandle,
  parts: readonly Uint8Array[],
  position: number,
  open: () => boolean = () => true,
): Promise<void> {
  if (!open()) return;
  const calls: Promise<void>[] = [];
  let at = position;
  for (const { group, bytes } of gathered(parts)) {
    calls.push(writeGroup(handle, group, bytes, at, open));
    at += bytes;
  }
  await Promise.all(calls);
}

/** One gathered call; what a short write leaves is written part by part. */
async function writeGroup(
  handle: FileHandle,
  group: Uint8Array[],
  bytes: number,
  position: number,
  open: () => boolean,
): Promise<void> {
  const { bytesWritten } = await handle.writev(group, position);
  if (bytesWritten >= bytes || !open()) return;
  for (const { part, from, at } of unwritten(group, bytesWritten, position)) {
    await writeRange(handle, part, from, part.length, at, open);
  }
}

/** What a gathered write of `written` bytes at `position` left of each part: from where, and to where. */
function* unwritten(
  group: readonly Uint8Array[],
  written: number,
  position: number,
): Generator<{ part: Uint8Array; from: number; at: number }> {
  let skip = written;
  let at = position + written;
  for (const part of group) {
    if (skip >= part.length) {
      skip -= part.length;
      continue;
    }
    yield { part, from: skip, at };
    at += part.length - skip;
    skip = 0;
  }
}

/**
 * writevAllAt on the calling thread: `parts` written in order at `position` of the open file `fd`, in
 * gathered calls of at most WRITE_CALL_MAX bytes and IOV_MAX parts. For a writer that has nothing else to
 * do while the write goes on (see GatherWriter).
 */
export function writevAllAtSync(
  fd: number,
  parts: readonly Uint8Array[],
  position: number,
  writev: (fd: number, parts: Uint8Array[], position: number) => number = writevSync,
): void {
  let at = position;
  for (const { group, bytes } of gathered(parts)) {
    const n = writev(fd, group, at);
    if (n < bytes) finishShortWrite(fd, group, n, at);
    at += bytes;
  }
}

/** What a short gathered write left, written part by part. */
function finishShortWrite(fd: number, group: readonly Uint8Array[], written: number, position: number): void {
  for (const { part, from, at: start } of unwritten(group, written, position)) {
    let at = start;
    for (let off = from; off < part.length;) {
      const n = writeSync(fd, part, off, part.length - off, at);
      if (n <= 0) throw new Error(`write returned ${n} at byte ${at}`);
      off += n;
      at += n;
    }
  }
}

/** Parts per writev call at most (Linux's IOV_MAX). */
const IOV_MAX = 1024;

/** `parts` in order, cut and gathered into groups of at most WRITE_CALL_MAX bytes and IOV_MAX parts. */
function* gathered(parts: readonly Uint8Array[]): Generator<{ group: Uint8Array[]; bytes: number }> {
  let group: Uint8Array[] = [];
  let bytes = 0;
  for (const part of parts) {
    for (let off = 0; off < part.length;) {
      const n = Math.min(part.length - off, WRITE_CALL_MAX - bytes);
      group.push(off === 0 && n === part.length ? part : part.subarray(off, off + n));
      bytes += n;
      off += n;
      if (bytes === WRITE_CALL_MAX || group.length === IOV_MAX) {
        yield { group, bytes };
        group = [];
        bytes = 0;
      }
    }
  }
  if (bytes > 0) yield { group, bytes };
}

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
 * Write all of `data` at `position`, in calls of at most WRITE_CALL_MAX bytes. `open()`, when given, is
 * asked before each call: a file closed meanwhile (an interrupted output being thrown away; closing waits
 * for the call in progress) gets no more calls.
 */
export async function writeAllAt(
  handle: FileHandle,
  data: Uint8Array,
  position: number,
  open: () => boolean = () => true,
): Promise<void> {
  let off = 0;
  while (off < data.length && open()) {
    const n = Math.min(WRITE_CALL_MAX, data.length - off);
    const { bytesWritten } = await handle.write(data, off, n, position + off);
    off += bytesWritten;
  }
}

import { AtomicFile } from '../storage/local.js';
import { PieceWriter } from '../storage/piece-writer.js';
import { IO_BLOCK } from '../storage/write-all.js';

/**
 * The rare case of a head larger than the room reserved for it before a body written in one pass: a new
 * file with the head, then the body (`bodySize` bytes at `bodyAt` of the first file) copied behind it. The
 * first file is dropped.
 */
export async function rewriteWithHead(
  first: AtomicFile,
  head: Uint8Array,
  bodyAt: number,
  bodySize: number,
  path: string,
): Promise<void> {
  const out = await AtomicFile.create(path);
  const writer = new PieceWriter(out, [{ name: 'joined body', path: first.tempPath }], 2 * IO_BLOCK);
  try {
    await writer.add({ bytes: head });
    await writer.add({ source: 0, offset: bodyAt, size: bodySize });
    await writer.flush();
    await writer.close();
    await out.commit();
  } catch (err) {
    await writer.close();
    await out.abort();
    throw err;
  }
  await first.abort();
}

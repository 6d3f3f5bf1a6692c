import { closeSync, readSync } from 'node:fs';
import { sameBytes } from '../core/bytes.js';
import { InputError } from '../core/errors.js';
import type { PayloadRef, SamePayload } from '../formats/join-seam.js';
import { openInputSync } from '../sources/file-source.js';

/**
 * Reads payloads back from files, synchronously, for joinInputs' seam check (a few samples per seam, so
 * a file is opened once and read in place). close() when the join is done.
 */
export class PayloadPeek {
  private readonly fds = new Map<string, number>();

  /** `size` bytes at `at` of the file at `path`. */
  read(path: string, at: number, size: number): Uint8Array {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      fd = openInputSync(path);
      this.fds.set(path, fd);
    }
    const b = new Uint8Array(size);
    if (readSync(fd, b, 0, size, at) !== size) {
      throw new InputError(`${path} ended inside a sample at byte ${at}`, {
        code: 'E_INPUT_CHANGED',
        details: { path, offset: at },
      });
    }
    return b;
  }

  /** A comparison of two payloads, each read with `bytesOf`. */
  static same(bytesOf: (ref: PayloadRef) => Uint8Array): SamePayload {
    return (a, b) => a.size === b.size && sameBytes(bytesOf(a), bytesOf(b));
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

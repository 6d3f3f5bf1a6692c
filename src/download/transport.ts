/**
 * What the HTTP client needs from the layer that talks HTTP/1.1: one GET, its status and headers, and a
 * body to read or let go. Two implementations: raw sockets for direct connections (h1-transport.ts) and
 * undici where a proxy is configured (undici-transport.ts).
 */

export type ResponseHeaders = Record<string, string | string[] | undefined>;

/**
 * A piece of a body. It may be a view of memory the transport reuses: it is valid until the callback
 * returns, or until the promise the callback returned settles. Copy what must outlive that.
 */
export type ChunkHandler = (chunk: Buffer) => void | Promise<void>;

export interface TransportResponse {
  statusCode: number;
  /** Header names in lower case. */
  headers: ResponseHeaders;
  /**
   * Reads the body, handing each piece to `onChunk` in order; the next piece waits for the promise the
   * handler returns. Resolves at the end of the body, or once `destroy()` was called (from the handler:
   * enough was read); rejects when the connection fails first. `place`, asked before each read of the
   * socket: the memory the next body bytes go to (a view starting where they go), when the reader has it;
   * the transport may read them from the socket straight into it, and hands them to `onChunk` as a view of
   * it, in place (the reader then need not copy them).
   */
  read(onChunk: ChunkHandler, place?: () => Buffer | undefined): Promise<void>;
  /** Read and drop a small body (so that the connection can be used again), or close it past `limit`. */
  discard(limit: number): Promise<void>;
  /** Stop reading: the connection is closed (unless the body was complete). */
  destroy(): void;
}

export interface Transport {
  /** A GET; rejects when no response headers come (the caller's signal aborts it). */
  get(url: URL, headers: Record<string, string>, signal: AbortSignal): Promise<TransportResponse>;
  close(): Promise<void>;
}

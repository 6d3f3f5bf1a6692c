/** Ports on 127.0.0.1 for tests. */
import { createServer, type AddressInfo } from 'node:net';

/** A 127.0.0.1 port with nothing listening on it (a connection there is refused). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

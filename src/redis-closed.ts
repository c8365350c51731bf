/**
 * Why an ioredis connection closed. A command on a connection that closed fails with only
 * "Connection is closed."; the reason (a refused AUTH: `WRONGPASS …`, a TLS error) was emitted as
 * an 'error' event before, which callers that surface failures as failed calls swallow. Keeping
 * the last one lets such a failure name it.
 */
import type { Cluster, Redis } from 'ioredis';

/** ClosedReason answers a client's failure with the error that explains it. */
export type ClosedReason = (err: unknown) => unknown;

/**
 * closedReason listens to `client`'s 'error' events (so none is unhandled) and returns a function
 * that answers a "Connection is closed." failure with the last error emitted, any other with itself.
 */
export function closedReason(client: Redis | Cluster): ClosedReason {
  let last: Error | undefined;
  client.on('error', (err: Error) => {
    last = err;
  });
  return (err) =>
    last !== undefined && err instanceof Error && /Connection is closed/.test(err.message) ? last : err;
}

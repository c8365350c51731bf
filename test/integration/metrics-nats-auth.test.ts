// `nats: { url: nats://user:password@host:4222 }` against a real nats-server that wants a user and
// password (or a token): the NATS JavaScript client ignores credentials written in the URL, so the
// source connected without any and every read failed with "Authorization Violation"; the `nats`
// metric of an authenticated server could not be read at all. They are now taken out of the URL,
// as the NATS CLI and Go client read them. The server runs on a port it picks itself (-p -1).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { NatsSource } from '../../src/metrics/index.js';
import { startNatsServer, withBacklog } from '../helpers/nats-server.js';

/** startNats runs a JetStream nats-server with `auth` flags; resolves with its client port. */
function startNats(auth: string[], cleanup: (() => Promise<unknown>)[]): Promise<number> {
  return startNatsServer(cleanup, { flags: auth });
}

describe('NATS consumer pending on a server that wants credentials', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  it('takes user:password from the URL (percent-decoded)', async () => {
    const port = await startNats(['--user', 'worker', '--pass', 'p@ss:w0rd'], cleanup);
    await withBacklog({ servers: `127.0.0.1:${port}`, user: 'worker', pass: 'p@ss:w0rd' }, 'JOBS', 3);
    const source = new NatsSource({
      url: `nats://worker:p%40ss%3Aw0rd@127.0.0.1:${port}`,
      stream: 'JOBS',
      consumer: 'workers',
    });
    cleanup.push(() => source.close());
    const read = await source.read().catch((err: Error) => err.message);
    console.log(`user:password in the URL: read ${JSON.stringify(read)}`);
    assert.deepEqual(read, [3], 'the 3 waiting messages');
  });

  it('takes a token from the URL', async () => {
    const port = await startNats(['--auth', 's3cret-token'], cleanup);
    await withBacklog({ servers: `127.0.0.1:${port}`, token: 's3cret-token' }, 'JOBS', 2);
    const source = new NatsSource({
      url: `nats://s3cret-token@127.0.0.1:${port}`,
      stream: 'JOBS',
      consumer: 'workers',
    });
    cleanup.push(() => source.close());
    const read = await source.read().catch((err: Error) => err.message);
    console.log(`token in the URL: read ${JSON.stringify(read)}`);
    assert.deepEqual(read, [2], 'the 2 waiting messages');
  });
});

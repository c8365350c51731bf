// The NATS backend's `servers` as a comma-separated list (`nats://a:4222,nats://b:4222`, as the
// NATS CLI's --server takes a cluster's servers). Before, such a string went to the client as it
// was, which read it as one server (the last host:port written): with that one down, the queue
// never connected (every publish re-sent until publishTimeout) although the first was up. Shown on
// the shared nats-server (4222) listed first and a port nothing listens on listed last.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { createQueue, InvalidArgumentError, type QueueOptions } from '../../src/queue/index.js';
import { closedPort } from '../helpers/ports.js';
import { uniqueName } from './helpers.js';

describe('NATS backend given a comma-separated list of servers', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  it('connects to the server that is up when the last one listed is down', async () => {
    const servers = `nats://127.0.0.1:4222,nats://127.0.0.1:${await closedPort()}`;
    // Only bounds how long the publish was re-sent before the fix.
    const queue = createQueue({ backend: 'nats', servers, publishTimeout: 5_000 } as QueueOptions);
    queue.on('error', () => {});
    cleanup.push(() => queue.close());
    const name = uniqueName('servers');
    cleanup.push(() => queue.destroy(name));
    const published = await queue.publish(name, { n: 1 }).then(
      () => 'stored',
      (err: Error) => `${err.name}: ${err.message}`,
    );
    console.log(`${servers}: publish ${published}`);
    assert.equal(published, 'stored');
    assert.equal((await queue.depth(name)).depth, 1);
  });

  it('an empty entry is an argument error naming servers', () => {
    assert.throws(
      () => createQueue({ backend: 'nats', servers: 'nats://127.0.0.1:4222,' } as QueueOptions),
      (e: unknown) =>
        e instanceof InvalidArgumentError && e.field === 'servers' && /entry 2 of 2/.test(e.message),
    );
  });
});

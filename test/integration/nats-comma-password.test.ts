// A comma in a NATS password or token, written as it is in the metric `url` and the queue's
// `servers`. Before, a list was split at every comma, so `nats://worker:pa,ss@h:4222` became the
// entries `nats://worker:pa` (host "worker", port "pa": not a URL) and `ss@h:4222`; the comma had
// to be written %2C. A comma is now part of the credentials when the entry it is in has no `@`
// before it and an `@` follows it before the next entry that starts with a scheme. Checked on the
// rule's table (both sides of each boundary), then against a nats-server of the test's own whose
// user's password holds commas, and whose token does.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import { NatsSource, natsServers } from '../../src/metrics/index.js';
import { createQueue, type QueueOptions } from '../../src/queue/index.js';
import { workerScaledOn } from '../helpers/group-config.js';
import { startNatsServer, withBacklog } from '../helpers/nats-server.js';
import { freePort } from '../helpers/ports.js';
import { uniqueName } from '../queue/helpers.js';

const PASSWORD = 'pa,ss,w0rd';
const TOKEN = 'to,ken';

describe('natsServers: where a NATS server list is split (splitNatsServers)', () => {
  const up = { user: 'u', pass: 'p' };
  for (const [text, servers, auth] of [
    // A comma in credentials: no '@' before it in its entry, one after it before a scheme.
    ['nats://u:pa,ss@h:4222', ['nats://h:4222'], { user: 'u', pass: 'pa,ss' }],
    ['nats://u:a,b,c@h:4222', ['nats://h:4222'], { user: 'u', pass: 'a,b,c' }],
    ['nats://u:a,b:c@h:4222', ['nats://h:4222'], { user: 'u', pass: 'a,b:c' }],
    ['nats://u:p,,q@h:4222', ['nats://h:4222'], { user: 'u', pass: 'p,,q' }],
    ['nats://to,ken@h:4222', ['nats://h:4222'], { token: 'to,ken' }],
    ['u:pa,ss@h:4222', ['nats://h:4222'], { user: 'u', pass: 'pa,ss' }],
    [
      'nats://u:pa,ss@a:4222,nats://u:pa,ss@b:4222',
      ['nats://a:4222', 'nats://b:4222'],
      { user: 'u', pass: 'pa,ss' },
    ],
    [
      'tls://u:pa,ss@a:4222, wss://u:pa,ss@b:8443',
      ['tls://a:4222', 'wss://b:8443'],
      { user: 'u', pass: 'pa,ss' },
    ],
    // Commas between servers: a scheme follows, no '@' follows, or the entry has its '@' already.
    ['nats://a:4222,nats://b:4222', ['nats://a:4222', 'nats://b:4222'], {}],
    ['nats://a:4222,NATS://u:p@b:4222', ['nats://a:4222', 'nats://b:4222'], up],
    ['nats://a:4222,ws://u:p@b:8080', ['nats://a:4222', 'ws://b:8080'], up],
    ['a:4222,b:4222', ['a:4222', 'b:4222'], {}],
    ['nats://u:p@a:4222, b:4222', ['nats://a:4222', 'b:4222'], up],
    ['u:p@a:4222,u:p@b:4222', ['nats://a:4222', 'nats://b:4222'], up],
    // The reading the README names: no '@' before the comma, one after it and no scheme.
    ['a:4222,u:p@b:4222', ['nats://b:4222'], { user: 'a', pass: '4222,u:p' }],
  ] as const) {
    it(text, () => {
      assert.deepEqual(natsServers(text), { servers, auth });
    });
  }

  it("an array's items are split each on its own", () => {
    // Joined, these two would read as one server (the last row above).
    assert.deepEqual(natsServers(['a:4222', 'u:p@b:4222']), {
      servers: ['a:4222', 'nats://b:4222'],
      auth: up,
    });
  });
});

describe('a nats-server whose password or token holds commas, written as they are', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let userPort = 0;
  let tokenPort = 0;
  before(async () => {
    userPort = await startNatsServer(cleanup, { flags: ['--user', 'worker', '--pass', PASSWORD] });
    tokenPort = await startNatsServer(cleanup, { flags: ['--auth', TOKEN] });
    await withBacklog({ servers: `127.0.0.1:${userPort}`, user: 'worker', pass: PASSWORD }, 'JOBS', 3);
    await withBacklog({ servers: `127.0.0.1:${tokenPort}`, token: TOKEN }, 'JOBS', 2);
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  /** read is what a NatsSource at `url` reads from JOBS/workers, or its error's message. */
  async function read(url: string): Promise<unknown> {
    const source = new NatsSource({ url, stream: 'JOBS', consumer: 'workers' });
    cleanup.push(() => source.close());
    return source.read().catch((err: Error) => err.message);
  }

  it('metric url: user:password with commas', async () => {
    assert.deepEqual(await read(`nats://worker:${PASSWORD}@127.0.0.1:${userPort}`), [3]);
  });

  it('metric url: a list of two servers, one down, each with the password', async () => {
    const down = await freePort();
    const url = `nats://worker:${PASSWORD}@127.0.0.1:${down},nats://worker:${PASSWORD}@127.0.0.1:${userPort}`;
    assert.deepEqual(await read(url), [3]);
  });

  it('metric url: a token with a comma', async () => {
    assert.deepEqual(await read(`nats://${TOKEN}@127.0.0.1:${tokenPort}`), [2]);
  });

  it('the config takes such a url as written', () => {
    const url = `nats://worker:${PASSWORD}@127.0.0.1:${userPort},nats://127.0.0.1:${tokenPort}`;
    const yaml = workerScaledOn(`nats: { url: "${url}", stream: JOBS, consumer: workers, target: 5 }`);
    const config = parseConfig(yaml, { baseDir: '/srv' });
    assert.equal((config.groups.workers!.scaling!.metrics[0] as { url: string }).url, url);
  });

  it('queue servers: a job published and run over user:password with commas', async () => {
    const queue = createQueue({
      backend: 'nats',
      servers: `nats://worker:${PASSWORD}@127.0.0.1:${userPort}`,
      publishTimeout: 5_000,
    } as QueueOptions);
    queue.on('error', () => {});
    cleanup.push(() => queue.close());
    const name = uniqueName('comma');
    await queue.publish(name, { n: 7 });
    const got = await new Promise<unknown>((resolve) => {
      const worker = queue.worker(name, (payload) => resolve(payload));
      cleanup.push(() => worker.close());
    });
    assert.deepEqual(got, { n: 7 });
  });
});

// `nats: { url: nats://a:4222,nats://b:4222 }`: the servers of a cluster as a comma-separated
// list, as the NATS CLI's --server takes them. Before, the list went to the client as one string,
// which it read as one server (the last host:port written): a list whose last server was down
// read nothing although the first was up, and a source connected to the last server never failed
// over to the others. Now every entry goes to the client as `servers`. Two JetStream nats-servers
// of the test's own (no cluster: each holds its own copy of the stream, told apart by its backlog).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { NatsSource } from '../../src/metrics/index.js';
import { startStoppableNatsServer, withBacklog } from '../helpers/nats-server.js';
import { closedPort } from '../helpers/ports.js';
import { until } from '../helpers/until.js';

describe('NATS metric source given a list of servers', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let a: { port: number; stop: () => Promise<void> };
  let b: { port: number; stop: () => Promise<void> };
  before(async () => {
    a = await startStoppableNatsServer(cleanup, { flags: [] });
    b = await startStoppableNatsServer(cleanup, { flags: [] });
    await withBacklog({ servers: `127.0.0.1:${a.port}` }, 'JOBS', 3);
    await withBacklog({ servers: `127.0.0.1:${b.port}` }, 'JOBS', 5);
  });
  after(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  const source = (url: string) => {
    const s = new NatsSource({ url, stream: 'JOBS', consumer: 'workers' });
    cleanup.push(() => s.close());
    return s;
  };
  const read = (s: NatsSource) => s.read().catch((err: Error) => err.message);

  it('reads from the server that is up when the last one listed is down', async () => {
    const url = `nats://127.0.0.1:${a.port}, nats://127.0.0.1:${await closedPort()}`;
    const got = await read(source(url));
    console.log(`${url}: read ${JSON.stringify(got)}`);
    assert.deepEqual(got, [3], "server a's 3 waiting messages");
  });

  it('fails over to the other server when the one it reads from goes down', async () => {
    const s = source(`nats://127.0.0.1:${a.port},nats://127.0.0.1:${b.port}`);
    const first = await read(s);
    console.log(`first read ${JSON.stringify(first)} (a holds 3, b 5)`);
    assert.ok([3, 5].includes((first as number[])[0]!), `a backlog of a or b, got ${JSON.stringify(first)}`);
    const [down, other] = (first as number[])[0] === 3 ? [a, 5] : [b, 3];
    await down.stop();
    let last: unknown;
    await until(
      async () => {
        last = await read(s);
        return JSON.stringify(last) === JSON.stringify([other]);
      },
      15_000,
      `a read of the other server's ${other}`,
    );
    console.log(`after its server stopped: read ${JSON.stringify(last)}`);
  });
});

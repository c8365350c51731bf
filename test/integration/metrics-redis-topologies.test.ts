// `redis:` queue-depth metrics on Redis Sentinel and Redis Cluster, against real servers started
// here (redis-server, redis-sentinel; test/cache/topologies.ts). Before, the source took one URL:
// a queue on a Sentinel-managed or clustered Redis could not be scaled on, short of pointing the
// metric at one node by hand (and, after a failover, at the old master).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { createMetricSource } from '../../src/metrics/create.js';
import type { MetricSource } from '../../src/metrics/index.js';
import { startCluster, startSentinel } from '../cache/topologies.js';

const HOOK_MS = 60_000;
const READ = { group: 'workers', instances: [], now: 0 };

/** sourceFrom builds the group's first metric from config YAML, as `scaleplane up` does. */
function sourceFrom(metric: string): MetricSource {
  const config = parseConfig(
    `groups:\n  workers:\n    command: node worker.js\n    max_instances: 4\n    scaling:\n      metrics:\n        - ${metric}\n`,
    { baseDir: '/' },
  );
  const configured = config.groups.workers!.scaling!.metrics[0]!;
  assert.equal(configured.type, 'redis');
  return createMetricSource(configured as Parameters<typeof createMetricSource>[0], {
    balancer: undefined as never,
    registry: undefined as never,
  });
}

/** readUntil reads until the source answers `want` (a failover takes a few seconds to be seen). */
async function readUntil(source: MetricSource, want: number, ms: number): Promise<number[]> {
  const deadline = Date.now() + ms;
  let last: number[] | string = 'no reading';
  while (Date.now() < deadline) {
    try {
      last = await source.read(READ);
      if (last[0] === want) return last;
    } catch (error) {
      last = String(error);
    }
    await delay(100);
  }
  assert.fail(`read ${JSON.stringify(last)} for ${ms} ms, ${want} expected`);
}

/** serversFor starts the servers before a suite's tests and stops them, and the sources it tracks, after. */
function serversFor<Setup extends { stop(): Promise<void> }>(start: () => Promise<Setup>) {
  const sources: MetricSource[] = [];
  const servers = {
    setup: undefined as Setup | undefined,
    track(source: MetricSource): MetricSource {
      sources.push(source);
      return source;
    },
  };
  before(
    async () => {
      servers.setup = await start();
    },
    { timeout: HOOK_MS },
  );
  after(
    async () => {
      for (const source of sources) await source.close?.();
      await servers.setup?.stop();
    },
    { timeout: HOOK_MS },
  );
  return servers;
}

describe('redis metric on Sentinel', { timeout: 120_000 }, () => {
  const servers = serversFor(() => startSentinel(1));

  it('reads the list on the master the sentinels name, and on the new one after a failover', async (t) => {
    const sentinels = servers.setup!.sentinels.map((s) => `"${s.host}:${s.port}"`).join(', ');
    const source = servers.track(
      sourceFrom(
        `redis: { key: jobs, target: 10, url: "redis://127.0.0.1:1", sentinel: { name: ${servers.setup!.name}, sentinels: [${sentinels}] } }`,
      ),
    );
    const master = new Redis(servers.setup!.master);
    await master.rpush('jobs', 'a', 'b', 'c', 'd', 'e');
    // The replica must hold them before it is promoted: a loaded machine let one fail over with none,
    // and the new master then held only f and g (read [2] for 15 s).
    assert.equal(await master.wait(1, 10_000), 1, 'the replica acknowledged the five jobs');
    master.disconnect();
    // The URL's host and port (nothing listens on port 1) are not where it reads.
    assert.deepEqual(await source.read(READ), [5]);
    const promoted = await servers.setup!.failover();
    const now = new Redis(promoted);
    await now.rpush('jobs', 'f', 'g');
    now.disconnect();
    const read = await readUntil(source, 7, 15_000);
    t.diagnostic(`after the failover to ${promoted.port}: ${JSON.stringify(read)}`);
  });
});

describe('redis metric on Cluster', { timeout: 120_000 }, () => {
  const servers = serversFor(() => startCluster(3));

  it('reads keys on every node through one seed, a stream group backlog too', async () => {
    const cluster = new Cluster(servers.setup!.nodes);
    try {
      // Keys spread over the slots: some are on nodes other than the seed the source is given.
      const keys = Array.from({ length: 6 }, (_, i) => `jobs-${i}`);
      for (const [i, key] of keys.entries())
        await cluster.rpush(key, ...Array.from({ length: i + 1 }, () => 'x'));
      const seed = servers.setup!.nodes[0]!;
      const held = await Promise.all(
        servers.setup!.nodes.map(async (node) => {
          const direct = new Redis(node);
          try {
            return await direct.dbsize();
          } finally {
            direct.disconnect();
          }
        }),
      );
      assert.ok(
        held.filter((n) => n > 0).length >= 2 && held[0]! < keys.length,
        `keys per node: ${held.join(', ')}`,
      );
      for (const [i, key] of keys.entries()) {
        const one = sourceFrom(`redis: { key: ${key}, target: 10, cluster: ["${seed.host}:${seed.port}"] }`);
        try {
          assert.deepEqual(await one.read(READ), [i + 1], `${key} through ${seed.port}`);
        } finally {
          await one.close?.();
        }
      }
      await cluster.xadd('{q}:stream', '*', 'n', '1');
      await cluster.xadd('{q}:stream', '*', 'n', '2');
      await cluster.xgroup('CREATE', '{q}:stream', 'workers', '0');
      const source = servers.track(
        sourceFrom(
          `redis: { key: "{q}:stream", group: workers, target: 10, cluster: ["${seed.host}:${seed.port}"] }`,
        ),
      );
      assert.deepEqual(await source.read(READ), [2]);
    } finally {
      cluster.disconnect();
    }
  });
});

describe('redis metric config: sentinel and cluster', () => {
  const parse = (metric: string) => () => sourceFrom(metric);
  it('names the field of a bad address, and refuses both at once', () => {
    assert.throws(
      parse('redis: { key: k, target: 1, sentinel: { name: m, sentinels: ["26379"] } }'),
      (err: Error) => err instanceof ConfigError && /sentinel\.sentinels\.0.*not host:port/.test(err.message),
    );
    assert.throws(
      parse('redis: { key: k, target: 1, cluster: ["10.0.0.1"] }'),
      (err: Error) => err instanceof ConfigError && /cluster\.0.*not host:port/.test(err.message),
    );
    assert.throws(
      parse('redis: { key: k, target: 1, cluster: [] }'),
      (err: Error) => err instanceof ConfigError && /cluster.*at least one node/.test(err.message),
    );
    assert.throws(
      parse('redis: { key: k, target: 1, sentinel: { sentinels: ["a:1"] } }'),
      (err: Error) => err instanceof ConfigError && /sentinel\.name/.test(err.message),
    );
    assert.throws(
      parse('redis: { key: k, target: 1, sentinel: { name: m, sentinels: ["a:1"] }, cluster: ["b:2"] }'),
      (err: Error) => err instanceof ConfigError && /sentinel or cluster, not both/.test(err.message),
    );
  });
});

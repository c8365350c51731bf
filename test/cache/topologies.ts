// Throwaway Redis Sentinel and Redis Cluster setups on free ports, for the cache tests. Every process
// and folder belongs to the test that started it and is removed by its stop().
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort } from './helpers.js';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/** Endpoint is where one server listens. */
export interface Endpoint {
  host: string;
  port: number;
}

class Processes {
  readonly #children: ChildProcess[] = [];

  spawn(command: string, args: string[], cwd: string): ChildProcess {
    const child = spawn(command, args, { cwd, stdio: 'ignore' });
    this.#children.push(child);
    return child;
  }

  /** kill stops `child` at once, as a crash would. */
  async kill(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async killAll(): Promise<void> {
    await Promise.all(this.#children.map((child) => this.kill(child)));
  }
}

/** until polls `check` until it returns true, failing after `ms` with `what`. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await delay(50);
  }
}

/** probe runs one command against a server with no retries. */
async function probe<T>(endpoint: Endpoint, command: (redis: Redis) => Promise<T>): Promise<T> {
  const redis = new Redis({
    ...endpoint,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  try {
    await redis.connect();
    return await command(redis);
  } finally {
    redis.disconnect();
  }
}

function serverArgs(port: number, extra: string[] = []): string[] {
  return ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', ...extra];
}

/** SentinelSetup is a master, one replica and `sentinels.length` sentinels watching `name`. */
export interface SentinelSetup {
  name: string;
  master: Endpoint;
  replica: Endpoint;
  sentinels: Endpoint[];
  /** The master the sentinels name now. */
  currentMaster(): Promise<Endpoint>;
  /** Forces a failover and resolves with the new master once the sentinels name it. */
  failover(): Promise<Endpoint>;
  stop(): Promise<void>;
}

/** startSentinel runs master + replica + sentinels (quorum 1 for one sentinel, else a majority). */
export async function startSentinel(sentinelCount = 1): Promise<SentinelSetup> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-sentinel-'));
  const processes = new Processes();
  const name = 'spmaster';
  try {
    const master = { host: HOST, port: await freePort() };
    const replica = { host: HOST, port: await freePort() };
    processes.spawn('redis-server', serverArgs(master.port, ['--dir', dir]), dir);
    await until('master up', 5000, async () => (await probe(master, (r) => r.ping())) === 'PONG');
    processes.spawn(
      'redis-server',
      serverArgs(replica.port, ['--dir', dir, '--replicaof', HOST, String(master.port)]),
      dir,
    );
    await until('replica in sync', 10_000, async () =>
      (await probe(replica, (r) => r.info('replication'))).includes('master_link_status:up'),
    );
    const sentinels: Endpoint[] = [];
    const quorum = Math.floor(sentinelCount / 2) + 1;
    for (let i = 0; i < sentinelCount; i++) {
      const port = await freePort();
      // A sentinel rewrites its config file, so each gets its own.
      const conf = join(dir, `sentinel-${port}.conf`);
      await writeFile(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `sentinel monitor ${name} ${HOST} ${master.port} ${quorum}`,
          `sentinel down-after-milliseconds ${name} 1000`,
          `sentinel failover-timeout ${name} 5000`,
          '',
        ].join('\n'),
      );
      processes.spawn('redis-sentinel', [conf], dir);
      sentinels.push({ host: HOST, port });
    }
    const currentMaster = async (): Promise<Endpoint> => {
      const [host, port] = (await probe(sentinels[0]!, (r) =>
        r.call('SENTINEL', 'get-master-addr-by-name', name),
      )) as [string, string];
      return { host, port: Number(port) };
    };
    // Failover needs every sentinel to know the replica.
    for (const sentinel of sentinels)
      await until('sentinel sees the replica', 15_000, async () => {
        const replicas = (await probe(sentinel, (r) => r.call('SENTINEL', 'replicas', name))) as unknown[];
        return replicas.length > 0;
      });
    return {
      name,
      master,
      replica,
      sentinels,
      currentMaster,
      async failover() {
        const before = await currentMaster();
        // Until the sentinel has fresh INFO from the replica it answers NOGOODSLAVE: ask again.
        await until('sentinel accepts the failover', 20_000, async () => {
          await probe(sentinels[0]!, (r) => r.call('SENTINEL', 'failover', name));
          return true;
        });
        let after = before;
        await until('failover', 20_000, async () => {
          after = await currentMaster();
          if (after.port === before.port) return false;
          const role = await probe(after, (r) => r.call('ROLE'));
          return (role as string[])[0] === 'master';
        });
        return after;
      },
      async stop() {
        await processes.killAll();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await processes.killAll();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** ClusterSetup is a Redis Cluster of masters only, all slots covered. */
export interface ClusterSetup {
  nodes: Endpoint[];
  stop(): Promise<void>;
}

/** startCluster runs `masters` cluster-enabled servers and joins them with `redis-cli --cluster create`. */
export async function startCluster(masters = 3): Promise<ClusterSetup> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-cluster-'));
  const processes = new Processes();
  try {
    const nodes: Endpoint[] = [];
    for (let i = 0; i < masters; i++) {
      const port = await freePort();
      // The cluster bus port defaults to port + 10000, which may be taken or out of range: pick one.
      const busPort = await freePort();
      processes.spawn(
        'redis-server',
        serverArgs(port, [
          '--dir',
          dir,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          `nodes-${port}.conf`,
          '--cluster-port',
          String(busPort),
          '--cluster-node-timeout',
          '2000',
        ]),
        dir,
      );
      nodes.push({ host: HOST, port });
    }
    for (const node of nodes)
      await until(
        `cluster node ${node.port} up`,
        5000,
        async () => (await probe(node, (r) => r.ping())) === 'PONG',
      );
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${n.host}:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    for (const node of nodes)
      await until(`cluster state ok on ${node.port}`, 15_000, async () =>
        (await probe(node, (r) => r.call('CLUSTER', 'INFO') as Promise<string>)).includes('cluster_state:ok'),
      );
    return {
      nodes,
      async stop() {
        await processes.killAll();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await processes.killAll();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

// Dependencies the chaos suite breaks on purpose. Redis and PostgreSQL are the test's own (free
// ports, temp folders), never the shared servers; RabbitMQ is the shared broker, stopped briefly
// with `rabbitmqctl stop_app` as test/queue/chaos does.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, until } from './harness.js';

const run = promisify(execFile);

/** OwnRedis is a redis-server on a free port with an append-only file, so a restart keeps the data. */
export class OwnRedis {
  readonly port: number;
  readonly dir: string;
  #process: ChildProcess | undefined;

  private constructor(port: number, dir: string) {
    this.port = port;
    this.dir = dir;
  }

  /** start launches a fresh server and waits until it answers PING. */
  static async start(): Promise<OwnRedis> {
    const redis = new OwnRedis(await freePort(), await mkdtemp(join(tmpdir(), 'chaos-redis-')));
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** restart starts the server again on the same port (after `kill`), reloading its data. */
  async restart(): Promise<void> {
    this.#process = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--dir',
        this.dir,
        '--save',
        '',
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
      ],
      { stdio: 'ignore' },
    );
    await until(() => this.#ping(), 15_000, `redis on ${this.port} answers`, 50);
  }

  async #ping(): Promise<boolean> {
    const client = new Redis(this.url, {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      return (await client.ping()) === 'PONG';
    } catch {
      return false;
    } finally {
      client.disconnect();
    }
  }

  /** kill crashes the server (SIGKILL) and waits until it is gone. */
  async kill(): Promise<void> {
    const child = this.#process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }

  /** close kills the server and removes its folder. */
  async close(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** rabbitmqctl runs one rabbitmqctl command on the shared broker. */
export async function rabbitmqctl(command: 'stop_app' | 'start_app'): Promise<void> {
  await run('rabbitmqctl', [command], { timeout: 60_000 });
}

const PG_BIN = '/usr/lib/postgresql/15/bin';

async function asPostgres(command: string, args: string[]): Promise<void> {
  await run('runuser', ['-u', 'postgres', '--', join(PG_BIN, command), ...args], {
    timeout: 120_000,
    cwd: '/',
  });
}

/**
 * OwnPostgres is a PostgreSQL 15 primary and one streaming replica in a temp folder, on free
 * ports, run as the postgres user with pg_ctl: the shared 5432 server is never touched.
 */
export class OwnPostgres {
  readonly dir: string;
  readonly primaryPort: number;
  readonly replicaPort: number;

  private constructor(dir: string, primaryPort: number, replicaPort: number) {
    this.dir = dir;
    this.primaryPort = primaryPort;
    this.replicaPort = replicaPort;
  }

  /** start initialises the primary, clones the replica from it, and starts both. */
  static async start(): Promise<OwnPostgres> {
    const dir = await mkdtemp(join(tmpdir(), 'chaos-pg-'));
    await chmod(dir, 0o755);
    const pg = new OwnPostgres(dir, await freePort(), await freePort());
    const { uid, gid } = await postgresIds();
    await chown(dir, uid, gid);
    const settings = (port: number) => [
      '-o',
      `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=${dir} -c fsync=off ` +
        '-c wal_level=replica -c max_wal_senders=5 -c hot_standby=on -c max_connections=50',
    ];
    await asPostgres('initdb', ['-D', pg.#data('primary'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await asPostgres('pg_ctl', [
      '-D',
      pg.#data('primary'),
      '-l',
      join(dir, 'primary.log'),
      '-w',
      ...settings(pg.primaryPort),
      'start',
    ]);
    await asPostgres('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(pg.primaryPort),
      '-U',
      'postgres',
      '-D',
      pg.#data('replica'),
      '-R',
      '-X',
      'stream',
    ]);
    pg.#replicaSettings = settings(pg.replicaPort);
    await pg.startReplica();
    return pg;
  }

  #replicaSettings: string[] = [];

  #data(name: 'primary' | 'replica'): string {
    return join(this.dir, name);
  }

  /** stopReplica crashes the replica (`pg_ctl stop -m immediate`). */
  async stopReplica(): Promise<void> {
    await asPostgres('pg_ctl', ['-D', this.#data('replica'), '-m', 'immediate', '-w', 'stop']);
  }

  /** startReplica starts the replica and waits until it accepts connections. */
  async startReplica(): Promise<void> {
    await asPostgres('pg_ctl', [
      '-D',
      this.#data('replica'),
      '-l',
      join(this.dir, 'replica.log'),
      '-w',
      ...this.#replicaSettings,
      'start',
    ]);
  }

  /** close stops both servers and removes the folder. */
  async close(): Promise<void> {
    for (const name of ['replica', 'primary'] as const) {
      await asPostgres('pg_ctl', ['-D', this.#data(name), '-m', 'immediate', '-w', 'stop']).catch(() => {});
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

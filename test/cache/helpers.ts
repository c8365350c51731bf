import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';

/** SHARED_REDIS_URL is the machine's Redis; tests only touch keys under their own prefix. */
export const SHARED_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** uniquePrefix returns a key prefix no other test run uses. */
export function uniquePrefix(label: string): string {
  return `sptest:${label}:${process.pid}:${randomBytes(4).toString('hex')}:`;
}

/** cleanupPrefix deletes every key under `prefix`. */
export async function cleanupPrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

export { freePort } from '../helpers/ports.js';

/** OwnRedis is a redis-server this test started and may stop. */
export interface OwnRedis {
  port: number;
  url: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** startRedis runs a throwaway redis-server on `port` and waits until it answers PING. */
export async function startRedis(port: number, extraArgs: string[] = []): Promise<OwnRedis> {
  const child = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      ...extraArgs,
    ],
    {
      stdio: 'ignore',
    },
  );
  const url = `redis://127.0.0.1:${port}`;
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {});
  // Generous: this bounds a hang, it measures nothing. A server that never answers is killed, or
  // its process would hold the test file open until the runner's timeout.
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await probe.connect();
      await probe.ping();
      break;
    } catch {
      probe.disconnect();
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`redis-server on ${port} did not start (exit code ${child.exitCode})`);
      }
      await delay(25);
    }
  }
  probe.disconnect();
  return {
    port,
    url,
    process: child,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

/** shutdownRedis stops a server the test owns the way an operator would: SHUTDOWN NOSAVE. */
export async function shutdownRedis(own: OwnRedis): Promise<void> {
  const admin = new Redis(own.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
  admin.on('error', () => {});
  const exited = once(own.process, 'exit');
  await admin.call('SHUTDOWN', 'NOSAVE').catch(() => undefined);
  admin.disconnect();
  // SHUTDOWN cannot fail to stop it, but a lost connection could; never wait forever.
  const killer = setTimeout(() => own.process.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(killer);
}

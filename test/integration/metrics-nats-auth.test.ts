// `nats: { url: nats://user:password@host:4222 }` against a real nats-server that wants a user and
// password (or a token): the NATS JavaScript client ignores credentials written in the URL, so the
// source connected without any and every read failed with "Authorization Violation"; the `nats`
// metric of an authenticated server could not be read at all. They are now taken out of the URL,
// as the NATS CLI and Go client read them. The server runs on a port it picks itself (-p -1).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { type ConnectionOptions, connect } from '@nats-io/transport-node';
import { NatsSource } from '../../src/metrics/index.js';
import { within } from '../helpers/until.js';

/** startNats runs a JetStream nats-server with `auth` flags; resolves with its client port. */
async function startNats(auth: string[], cleanup: (() => Promise<unknown>)[]): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-nats-auth-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const child: ChildProcess = spawn(
    'nats-server',
    ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', dir, ...auth],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  cleanup.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  });
  let log = '';
  const port = new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const match = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(log);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
  });
  port.catch(() => {}); // an exit after it listened is the cleanup's
  return within('nats-server listening', 10_000, port);
}

/** withBacklog makes a stream with a durable consumer and `count` messages waiting for it. */
async function withBacklog(options: ConnectionOptions, stream: string, count: number): Promise<void> {
  const nc = await connect(options);
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: 'workers', ack_policy: AckPolicy.Explicit });
    for (let i = 0; i < count; i++) await jsm.jetstream().publish(`${stream}.job`, String(i));
  } finally {
    await nc.close();
  }
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

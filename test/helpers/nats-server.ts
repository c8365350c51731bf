// A nats-server of a test's own: JetStream in a temp folder, a port the server picks itself (-1),
// stopped and its folder removed by the test's cleanup. For what the shared server on 4222 cannot
// be made to do: want credentials, refuse a user some subjects.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { type ConnectionOptions, connect } from '@nats-io/transport-node';
import { within } from './until.js';

/** NatsServerOptions: either command-line flags, or a config file's text (its `listen` is added). */
export type NatsServerOptions = { flags: string[] } | { config: (storeDir: string) => string };

/**
 * startNatsServer runs a JetStream nats-server as `options` say and resolves with its client port;
 * it pushes its own stop (SIGTERM, awaited) and removal of its folder onto `cleanup`.
 */
export async function startNatsServer(
  cleanup: (() => Promise<unknown>)[],
  options: NatsServerOptions,
): Promise<number> {
  return (await spawnNatsServer(cleanup, options)).port;
}

/**
 * startStoppableNatsServer is startNatsServer with `stop` to end the server before the cleanup does
 * (SIGTERM, awaited): a cluster member going down under its clients.
 */
export async function startStoppableNatsServer(
  cleanup: (() => Promise<unknown>)[],
  options: NatsServerOptions,
): Promise<{ port: number; stop: () => Promise<void> }> {
  const { port, child } = await spawnNatsServer(cleanup, options);
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  };
  return { port, stop };
}

/**
 * startReloadableNatsServer is startNatsServer from a config's text, with `reload` to rewrite that
 * text and have the running server take it (SIGHUP): its clients stay connected, under the new
 * permissions. Resolves once the server logs the reload.
 */
export async function startReloadableNatsServer(
  cleanup: (() => Promise<unknown>)[],
  config: (storeDir: string) => string,
): Promise<{ port: number; reload: (config: (storeDir: string) => string) => Promise<void> }> {
  const { port, child, dir, log } = await spawnNatsServer(cleanup, { config });
  const reload = async (next: (storeDir: string) => string) => {
    await writeFile(join(dir, 'server.conf'), `listen: "127.0.0.1:-1"\n${next(join(dir, 'js'))}`);
    const reloaded = log.next(/Reloaded server configuration/);
    child.kill('SIGHUP');
    await within('nats-server reloaded', 10_000, reloaded);
  };
  return { port, reload };
}

/** spawnNatsServer runs the server; `log.next` resolves when a line matching appears after the call. */
async function spawnNatsServer(
  cleanup: (() => Promise<unknown>)[],
  options: NatsServerOptions,
): Promise<{
  port: number;
  child: ChildProcess;
  dir: string;
  log: { next: (line: RegExp) => Promise<void> };
}> {
  const dir = await mkdtemp(join(tmpdir(), 'sp-nats-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const store = join(dir, 'js');
  let args: string[];
  if ('flags' in options) args = ['-a', '127.0.0.1', '-p', '-1', '-js', '-sd', store, ...options.flags];
  else {
    const config = join(dir, 'server.conf');
    await writeFile(config, `listen: "127.0.0.1:-1"\n${options.config(store)}`);
    args = ['-c', config];
  }
  const child: ChildProcess = spawn('nats-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanup.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
  });
  let log = '';
  const waiting = new Set<{ line: RegExp; from: number; resolve: () => void }>();
  const next = (line: RegExp) =>
    new Promise<void>((resolve) => {
      waiting.add({ line, from: log.length, resolve });
    });
  const port = new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      for (const w of waiting)
        if (w.line.test(log.slice(w.from))) {
          waiting.delete(w);
          w.resolve();
        }
      const match = /Listening for client connections on 127\.0\.0\.1:(\d+)/.exec(log);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`nats-server exited (${code}): ${log}`)));
  });
  port.catch(() => {}); // an exit after it listened is the cleanup's
  return { port: await within('nats-server listening', 10_000, port), child, dir, log: { next } };
}

/**
 * withBacklog makes `stream` (subjects `stream.>`) with a durable consumer `workers` and `count`
 * messages waiting for it, connected as `options` say.
 */
export async function withBacklog(options: ConnectionOptions, stream: string, count: number): Promise<void> {
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

// A nats-server of a test's own: JetStream in a temp folder, a port the server picks itself (-1),
// stopped and its folder removed by the test's cleanup. For what the shared server on 4222 cannot
// be made to do: want credentials, refuse a user some subjects.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

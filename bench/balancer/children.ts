// The balancer benches' child processes: free ports, and node processes that say 'ready' over IPC
// once they listen. Every child started here is SIGKILLed when the bench exits, however it ends.
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';

/** children are the processes startReady started, in order. */
export const children: ChildProcess[] = [];
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/** freePort is a port on 127.0.0.1 that nothing listened on a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** startReady forks `script` and resolves once it sends 'ready'; it fails if the script exits first. */
export async function startReady(
  script: string,
  env: Record<string, string>,
  options: { cwd?: string; execArgv?: string[] } = {},
): Promise<ChildProcess> {
  const child = fork(script, [], {
    cwd: options.cwd,
    env: { ...process.env, ...env },
    execArgv: options.execArgv ?? [],
    stdio: 'inherit',
  });
  children.push(child);
  const [message] = (await Promise.race([
    once(child, 'message'),
    once(child, 'exit').then(() => {
      throw new Error(`${script} exited before it was ready`);
    }),
  ])) as [unknown];
  if (message !== 'ready') throw new Error(`${script}: unexpected ${String(message)}`);
  return child;
}

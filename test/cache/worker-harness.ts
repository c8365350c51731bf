// Worker processes of the cache on one Redis, driven over IPC (./fixtures/worker.ts): used by
// test/cache/acceptance.test.ts and bench/cache/invalidation.ts.
import { type ChildProcess, fork } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { forkable } from '../helpers/runnable.js';

const WORKER = fileURLToPath(new URL('./fixtures/worker.ts', import.meta.url));

export interface Worker {
  child: ChildProcess;
  call(body: object): Promise<Record<string, unknown>>;
  events: Record<string, unknown>[];
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

export async function startWorker(): Promise<Worker> {
  const { modulePath, execArgv } = forkable(WORKER);
  const child = fork(modulePath, [], {
    execArgv,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const pending = new Map<number, (body: Record<string, unknown>) => void>();
  const events: Record<string, unknown>[] = [];
  let next = 0;
  const failures = new Set<(error: Error) => void>();
  const started = new Promise<void>((resolve, reject) => {
    failures.add(reject);
    child.on('message', (message: Record<string, unknown>) => {
      if (message.event === 'started') resolve();
      else if (message.event) events.push(message);
      else pending.get(message.id as number)?.(message);
    });
  });
  // A worker that dies or hangs fails the test instead of stalling it.
  child.on('exit', (code) => {
    for (const fail of failures) fail(new Error(`worker ${child.pid} exited with ${code}`));
  });
  try {
    await withTimeout(started, 60_000, 'worker start');
  } catch (error) {
    // A worker that never said it started still holds its IPC channel, and with it this file.
    child.kill('SIGKILL');
    throw error;
  }
  return {
    child,
    events,
    call(body) {
      const id = ++next;
      const reply = new Promise<Record<string, unknown>>((resolve, reject) => {
        failures.add(reject);
        pending.set(id, (message) => {
          failures.delete(reject);
          pending.delete(id);
          if (message.error) reject(new Error(String(message.error)));
          else resolve(message);
        });
        child.send({ id, ...body });
      });
      return withTimeout(reply, 30_000, JSON.stringify(body));
    },
  };
}

/** Eviction is what one worker saw of an invalidation: ms after the delete began, and whether the key was still in its memory tier. */
export interface Eviction {
  ms: number;
  hasKey: boolean;
}

/**
 * invalidationRound warms a tagged key in every worker, deletes the tag in the first, and returns,
 * for each of the others, its eviction (undefined if none came within 10 s). Each worker stamps the
 * eviction itself on the same wall clock, so the IPC trip back here is not part of the latency.
 */
export async function invalidationRound(
  workers: Worker[],
  round: number,
): Promise<{ warm: boolean; evictions: (Eviction | undefined)[] }> {
  const key = `tagged-${round}`;
  const tag = `tag-${round}`;
  await workers[0]!.call({ cmd: 'warm', key, tag });
  const warmed = await Promise.all(workers.slice(1).map((w) => w.call({ cmd: 'warm', key, tag })));
  for (const w of workers) w.events.length = 0;
  const { startedAt } = (await workers[0]!.call({ cmd: 'deleteByTag', tag })) as { startedAt: number };
  const seen = (w: Worker) => w.events.find((e) => (e.tags as string[]).includes(tag));
  const deadline = Date.now() + 10_000;
  while (workers.slice(1).some((w) => seen(w) === undefined) && Date.now() < deadline) await delay(5);
  return {
    warm: warmed.every((r) => r.hasKey === true),
    evictions: workers.slice(1).map((w) => {
      const event = seen(w);
      return event && { ms: (event.at as number) - startedAt, hasKey: event.hasKey as boolean };
    }),
  };
}

import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { type BackendName, createQueue } from '../../src/queue/index.js';
import { backendOptions, sleep, uniqueName } from './helpers.js';

const run = promisify(execFile);
const fixture = fileURLToPath(new URL('./fixtures/chaos-worker.ts', import.meta.url));

/** ChaosReport is what one chaos run prints. */
export interface ChaosReport {
  backend: BackendName;
  jobs: number;
  completed: number;
  lost: number;
  kills: number;
  brokerRestarts: number;
  duplicates: number;
  unexplainedDuplicates: number;
  seconds: number;
}

/**
 * runChaos publishes `jobs` jobs while worker processes are SIGKILLed at random and restarted
 * (and, for RabbitMQ, the broker app is stopped and started once), then checks that every job
 * completed and that each duplicate was in flight at a kill or a broker restart.
 */
export async function runChaos(backend: BackendName, jobs: number, workers = 3): Promise<ChaosReport> {
  const queueName = uniqueName(`chaos-${backend}`);
  const runKey = `sp:test:${queueName}`;
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const queue = createQueue({
    ...backendOptions(backend),
    reconnect: { initial: 100, max: 2000 },
    publishTimeout: 120_000,
  });
  queue.on('error', () => {});
  const children = new Set<ChildProcess>();
  // Only processes that are consuming are worth killing: a kill during startup tests nothing.
  const ready = new Set<ChildProcess>();
  const start = Date.now();
  let kills = 0;
  let brokerRestarts = 0;
  let finished = false;
  const restartWindow = [0, 0];
  // A publish unconfirmed when the broker went down is sent again (RabbitMQ has no publish dedup).
  const publishSpans = new Map<string, [number, number]>();

  const startWorker = () => {
    const child = spawn(process.execPath, ['--import', 'tsx', fixture], {
      env: { ...process.env, CHAOS_BACKEND: backend, CHAOS_QUEUE: queueName, CHAOS_RUN: runKey },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    child.stdout?.once('data', () => ready.add(child));
    child.stdout?.resume();
    child.on('exit', () => {
      children.delete(child);
      ready.delete(child);
    });
  };
  const doneCount = () => redis.hlen(`${runKey}:done`);

  try {
    for (let i = 0; i < workers; i++) startWorker();
    // Publish in paced chunks so publishing overlaps the kills and the broker restart.
    const publishing = (async () => {
      for (let i = 0; i < jobs; i += 100) {
        const chunk = Array.from({ length: Math.min(100, jobs - i) }, (_, k) =>
          queue.publish(queueName, { n: i + k }, { id: `j${i + k}` }),
        );
        await Promise.all(chunk);
        await sleep(40);
      }
    })();
    const chaos = (async () => {
      let restarted = backend !== 'rabbitmq';
      while (!finished) {
        await sleep(500 + Math.random() * 1000);
        if (finished) break;
        const done = await doneCount();
        // Kill first, then restart the broker: a fast run must still see both faults.
        if (!restarted && kills > 0 && done > jobs * 0.3) {
          restarted = true;
          restartWindow[0] = Date.now() - 1000;
          await run('rabbitmqctl', ['stop_app']);
          await sleep(1500);
          await run('rabbitmqctl', ['start_app']);
          restartWindow[1] = Date.now();
          brokerRestarts++;
          continue;
        }
        if (done > jobs * 0.9) continue;
        const victims = [...ready];
        // Keep one consumer alive: restarts take seconds on a loaded 2-core box, and progress must go on.
        if (victims.length < 2) continue;
        const victim = victims[Math.floor(Math.random() * victims.length)];
        if (!victim) continue;
        victim.kill('SIGKILL');
        kills++;
        await sleep(100 + Math.random() * 200);
        startWorker();
      }
    })();
    const monitor = process.env.QUEUE_CHAOS_DEBUG
      ? setInterval(async () => {
          console.log('CHAOS progress', {
            done: await doneCount(),
            children: children.size,
            ready: ready.size,
            kills,
            depth: await queue.depth(queueName).catch(() => undefined),
          });
        }, 3000)
      : undefined;
    await publishing;
    const deadline = Date.now() + Math.max(120_000, jobs * 30);
    while ((await doneCount()) < jobs && Date.now() < deadline) await sleep(200);
    finished = true;
    clearInterval(monitor);
    await chaos;
    // Let the last acks land, then stop the survivors gracefully.
    for (let i = 0; i < 50; i++) {
      const d = await queue.depth(queueName);
      if (d.depth === 0 && (d.pending ?? 0) === 0) break;
      await sleep(100);
    }
    await Promise.all(
      [...children].map(
        (c) =>
          new Promise<void>((resolve) => {
            c.once('exit', () => resolve());
            c.kill('SIGTERM');
          }),
      ),
    );
    const seconds = (Date.now() - start) / 1000;
    const counts = await redis.hgetall(`${runKey}:done`);
    const inflightKeys = await redis.keys(`${runKey}:inflight:*`);
    const explained = new Set<string>();
    for (const key of inflightKeys) for (const id of await redis.smembers(key)) explained.add(id);
    let lost = 0;
    for (let i = 0; i < jobs; i++) if (!counts[`j${i}`]) lost++;
    const ackedAt = await redis.hgetall(`${runKey}:ackedAt`);
    for (const [id, at] of Object.entries(ackedAt))
      if (Number(at) >= restartWindow[0]! && Number(at) <= restartWindow[1]!) explained.add(id);
    for (const [id, [from, to]] of publishSpans)
      if (to >= restartWindow[0]! && from <= restartWindow[1]! && restartWindow[1]! > 0) explained.add(id);
    const duplicateIds = Object.entries(counts)
      .filter(([, n]) => Number(n) > 1)
      .map(([id]) => id);
    const report: ChaosReport = {
      backend,
      jobs,
      completed: Object.keys(counts).length,
      lost,
      kills,
      brokerRestarts,
      duplicates: duplicateIds.length,
      unexplainedDuplicates: duplicateIds.filter((id) => !explained.has(id)).length,
      seconds,
    };
    assert.equal((await queue.dlq(queueName).list()).length, 0, 'no job may be dead-lettered');
    const unexplained = duplicateIds.filter((id) => !explained.has(id));
    if (unexplained.length > 0)
      console.log(
        'CHAOS unexplained duplicates, first ack relative to the broker stop (ms):',
        unexplained.map((id) =>
          ackedAt[id] ? Number(ackedAt[id]) - restartWindow[0]! - 1000 : 'never acked',
        ),
      );
    if (lost > 0) console.log('CHAOS lost jobs; depth at the end:', await queue.depth(queueName));
    await redis.del(`${runKey}:done`, `${runKey}:ackedAt`, ...inflightKeys);
    return report;
  } finally {
    finished = true;
    for (const c of children) c.kill('SIGKILL');
    await queue.destroy(queueName).catch(() => {});
    await queue.close();
    redis.disconnect();
  }
}

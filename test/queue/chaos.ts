import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { type BackendName, createQueue } from '../../src/queue/index.js';
import { runnable } from '../helpers/runnable.js';
import { installAmqpTrace, trace } from './fixtures/amqp-trace.js';
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
  /** Jobs confirmed published when the broker restart began: publishing must still be going on. */
  publishedAtRestart?: number;
  /**
   * Times the test's own broker connection dropped: 1 per restart of ours, more if someone else
   * restarted the shared broker meanwhile (their restarts are counted nowhere else).
   */
  publisherConnectionLosses: number;
  /** Publishes re-sent because their confirm was lost (RabbitMQ restart). */
  republished: number;
  /** Jobs whose handler ran more than once, and why (each counted under its first reason). */
  duplicates: number;
  inFlightAtKill: number;
  inFlightAtRestart: number;
  publishedTwice: number;
  unexplainedDuplicates: number;
  unexplainedIds: string[];
  seconds: number;
}

/**
 * runChaos publishes `jobs` jobs while worker processes are SIGKILLed at random and restarted
 * (and, for RabbitMQ, the broker app is stopped and started once), then checks that every job
 * completed and explains each duplicate. A job ran twice legitimately only if one of its earlier
 * deliveries was still in flight (delivered, its ack not yet confirmed by the broker) when
 *   - its worker was SIGKILLed (in flight at a kill), or
 *   - its worker's broker connection was lost, which here only the broker restart does (in flight
 *     at the broker restart), or if
 *   - its publish was re-sent because the confirm was lost with the connection (published twice).
 * Anything else is an unexplained duplicate.
 */
export async function runChaos(backend: BackendName, jobs: number, workers = 3): Promise<ChaosReport> {
  const queueName = uniqueName(`chaos-${backend}`);
  const runKey = `sp:test:${queueName}`;
  installAmqpTrace(process.env.QUEUE_CHAOS_TRACE);
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const queue = createQueue({
    ...backendOptions(backend),
    reconnect: { initial: 100, max: 2000 },
    publishTimeout: 120_000,
  });
  queue.on('error', () => {});
  let publisherConnectionLosses = 0;
  queue.on('connection', (e: { state: string }) => {
    if (e.state === 'disconnected') publisherConnectionLosses++;
  });
  const republished = new Set<string>();
  let republishes = 0;
  queue.on('republish', (e: { id: string }) => {
    republishes++;
    republished.add(e.id);
    trace('republish', { id: e.id });
  });
  const children = new Set<ChildProcess>();
  // Only processes that are consuming are worth killing: a kill during startup tests nothing.
  const ready = new Set<ChildProcess>();
  const killed = new Set<number>();
  const start = Date.now();
  let kills = 0;
  let brokerRestarts = 0;
  let published = 0;
  let publishedAtRestart: number | undefined;
  let finished = false;
  let restarting = false;

  const startWorker = () => {
    const child = spawn(process.execPath, runnable(fixture), {
      env: { ...process.env, CHAOS_BACKEND: backend, CHAOS_QUEUE: queueName, CHAOS_RUN: runKey },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    children.add(child);
    trace('spawn', { child: child.pid });
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
    // Jobs j0…j(jobs-1) are taken in order by the chunked publisher and, during the restart, by
    // the trickle below; `published` counts confirmed ones.
    let next = 0;
    const take = (n: number) => {
      const from = next;
      next = Math.min(jobs, next + n);
      return Array.from({ length: next - from }, (_, k) => from + k);
    };
    const publishJob = (n: number) =>
      queue.publish(queueName, { n }, { id: `j${n}` }).then(() => {
        published++;
      });
    const trickled: Promise<void>[] = [];
    // While the broker stops, one job every 10 ms, none waiting for the one before: some go out
    // after the queue stopped and before the connection closed, so their confirms are lost.
    const trickle = async () => {
      while (restarting && next < jobs) {
        for (const n of take(1)) trickled.push(publishJob(n));
        await sleep(10);
      }
    };
    // Publish in chunks, never more than `backlog` ahead of the workers, so publishing lasts
    // through the kills and the broker restart instead of finishing before them.
    const backlog = Math.max(100, Math.min(1000, jobs / 10));
    // The last 40 % wait until the faults have happened: on a loaded machine the workers can be
    // slow to get ready for the first kill, and the run must not finish publishing before it (and,
    // for RabbitMQ, before the broker restart began): both faults must hit a run still publishing.
    const faultsSeen = () => kills > 0 && (backend !== 'rabbitmq' || publishedAtRestart !== undefined);
    const publishing = (async () => {
      while (next < jobs) {
        while (next >= jobs * 0.6 && !faultsSeen()) await sleep(50);
        while (published - (await doneCount()) > backlog) await sleep(50);
        await Promise.all(take(100).map(publishJob));
      }
      while (restarting) await sleep(50);
      await Promise.all(trickled);
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
          publishedAtRestart = published;
          restarting = true;
          const trickling = trickle();
          trace('stop_app-run');
          await run('rabbitmqctl', ['stop_app']);
          trace('stop_app-returned');
          await sleep(1500);
          trace('start_app-run');
          await run('rabbitmqctl', ['start_app']);
          trace('start_app-returned');
          restarting = false;
          await trickling;
          brokerRestarts++;
          continue;
        }
        if (done > jobs * 0.9) continue;
        const victims = [...ready];
        // Keep one consumer alive: restarts take seconds on a loaded 2-core box, and progress must go on.
        if (victims.length < 2) continue;
        const victim = victims[Math.floor(Math.random() * victims.length)];
        if (!victim?.pid) continue;
        killed.add(victim.pid);
        victim.kill('SIGKILL');
        trace('kill', { victim: victim.pid });
        kills++;
        await sleep(100 + Math.random() * 200);
        startWorker();
      }
    })();
    const monitor = process.env.QUEUE_CHAOS_DEBUG
      ? setInterval(async () => {
          console.log('CHAOS progress', {
            published,
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
    let lost = 0;
    for (let i = 0; i < jobs; i++) if (!counts[`j${i}`]) lost++;

    // Deliveries never confirmed settled: `<id>@<attempt>` → connections its worker had lost before it.
    const inflightKeys = await redis.keys(`${runKey}:inflight:*`);
    const connectionsLost = await redis.hgetall(`${runKey}:connectionsLost`);
    const atKill = new Set<string>();
    const atRestart = new Set<string>();
    for (const key of inflightKeys) {
      const pid = Number(key.slice(key.lastIndexOf(':') + 1));
      for (const [field, lostBefore] of Object.entries(await redis.hgetall(key))) {
        const id = field.slice(0, field.lastIndexOf('@'));
        // Its worker's connection was lost after it was delivered and before its ack was confirmed
        // (even if that worker was killed later), else its worker was killed with it in flight.
        if (brokerRestarts > 0 && Number(lostBefore) < Number(connectionsLost[pid] ?? 0)) atRestart.add(id);
        else if (killed.has(pid)) atKill.add(id);
      }
    }
    const duplicateIds = Object.entries(counts)
      .filter(([, n]) => Number(n) > 1)
      .map(([id]) => id);
    const reasons = { kill: 0, restart: 0, republished: 0 };
    const unexplainedIds: string[] = [];
    for (const id of duplicateIds) {
      if (atRestart.has(id)) reasons.restart++;
      else if (atKill.has(id)) reasons.kill++;
      else if (republished.has(id)) reasons.republished++;
      else unexplainedIds.push(id);
    }
    const report: ChaosReport = {
      backend,
      jobs,
      completed: Object.keys(counts).length,
      lost,
      kills,
      brokerRestarts,
      publishedAtRestart,
      publisherConnectionLosses,
      republished: republishes,
      duplicates: duplicateIds.length,
      inFlightAtKill: reasons.kill,
      inFlightAtRestart: reasons.restart,
      publishedTwice: reasons.republished,
      unexplainedDuplicates: unexplainedIds.length,
      unexplainedIds,
      seconds,
    };
    assert.equal((await queue.dlq(queueName).list()).length, 0, 'no job may be dead-lettered');
    if (lost > 0) console.log('CHAOS lost jobs; depth at the end:', await queue.depth(queueName));
    await redis.del(`${runKey}:done`, `${runKey}:connectionsLost`, ...inflightKeys);
    return report;
  } finally {
    finished = true;
    for (const c of children) c.kill('SIGKILL');
    await queue.destroy(queueName).catch(() => {});
    await queue.close();
    redis.disconnect();
  }
}

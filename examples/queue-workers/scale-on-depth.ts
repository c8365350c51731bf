// "Check queue length before processing and scale workers dynamically": a scaler reads the queue's
// depth every second and runs as many workers as the backlog needs (KEDA's formula: desired =
// ceil(backlog / target per worker), 0 below the activation threshold, clamped to max), closing
// workers gracefully on scale-in so no job is lost.
//
//   npx tsx examples/queue-workers/scale-on-depth.ts            # Redis Streams on 127.0.0.1:6379
//   QUEUE_BACKEND=nats npx tsx examples/queue-workers/scale-on-depth.ts
import { Redis } from 'ioredis';
import {
  type BackendName,
  createQueue,
  type DepthReading,
  type QueueOptions,
  readRedisDepth,
  type Worker,
} from '../../src/queue/index.js';

/** ScaleRule is the KEDA-style target for one worker group. */
interface ScaleRule {
  /** Backlog one worker should carry. */
  targetPerWorker: number;
  /** Below this backlog (and with nothing pending) the group scales to zero. */
  activation: number;
  max: number;
}

/** desiredWorkers is the pure decision, with its reason, from one depth reading. */
function desiredWorkers(reading: DepthReading, rule: ScaleRule): { desired: number; reason: string } {
  const backlog = reading.depth + (reading.pending ?? 0);
  if (backlog <= rule.activation && (reading.pending ?? 0) === 0)
    return { desired: 0, reason: `backlog ${backlog} <= activation ${rule.activation}` };
  const raw = Math.ceil(backlog / rule.targetPerWorker);
  const desired = Math.min(rule.max, Math.max(1, raw));
  return {
    desired,
    reason: `ceil(${backlog} / ${rule.targetPerWorker}) = ${raw}${raw > rule.max ? `, capped at ${rule.max}` : ''}`,
  };
}

const backend = (process.env.QUEUE_BACKEND ?? 'redis') as BackendName;
const options: Record<BackendName, QueueOptions> = {
  redis: { backend: 'redis', redis: 'redis://127.0.0.1:6379' },
  nats: { backend: 'nats', servers: '127.0.0.1:4222' },
  rabbitmq: { backend: 'rabbitmq', url: 'amqp://guest:guest@127.0.0.1:5672' },
};
const name = `example-scale-${process.pid}`;
const queue = createQueue(options[backend]);
queue.on('error', (e) => console.error(new Date().toISOString(), 'queue error', e.code, e.message));
const redis = backend === 'redis' ? new Redis('redis://127.0.0.1:6379') : undefined;
let previous: DepthReading | undefined;
// Reads straight from the broker with the depth readers; other backends go through the queue.
const readDepth = async () => {
  previous = redis ? await readRedisDepth(redis, name, { previous }) : await queue.depth(name);
  return previous;
};

const rule: ScaleRule = { targetPerWorker: 20, activation: 0, max: 8 };
const workers: Worker[] = [];
let handled = 0;
const startWorker = () =>
  queue.worker(
    name,
    async () => {
      await new Promise((r) => setTimeout(r, 50)); // a job that takes 50ms
      handled++;
    },
    { concurrency: 1 },
  );

// A burst of 300 jobs after 2s, another of 150 at 8s: watch the group go 0 → N → 0 twice.
setTimeout(() => Promise.all(Array.from({ length: 300 }, (_, i) => queue.publish(name, { i }))), 2000);
setTimeout(() => Promise.all(Array.from({ length: 150 }, (_, i) => queue.publish(name, { i }))), 8000);

for (let tick = 0; tick < 20; tick++) {
  await new Promise((r) => setTimeout(r, 1000));
  const reading = await readDepth();
  const { desired, reason } = desiredWorkers(reading, rule);
  const current = workers.length;
  while (workers.length < desired) workers.push(startWorker());
  const stopping = workers.splice(desired);
  await Promise.all(stopping.map((w) => w.close()));
  const rate = reading.rate === undefined ? '' : ` rate=${reading.rate.toFixed(0)}/s`;
  console.log(
    `${new Date(reading.at).toISOString()} depth=${reading.depth} pending=${reading.pending ?? '?'}${rate} ` +
      `workers ${current} -> ${desired} (${reason}) handled=${handled}`,
  );
}
await Promise.all(workers.map((w) => w.close()));
await queue.destroy(name);
await queue.close();
redis?.disconnect();

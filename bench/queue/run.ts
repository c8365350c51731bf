// End-to-end queue throughput: publish N jobs while a worker consumes them; jobs/s = N / (time from
// the first publish to the last ack). Each Scaleplane backend, and BullMQ on the same Redis as the
// reference, run in alternation (A B C D A B C D …); the medians are printed.
// Usage: npx tsx bench/queue/run.ts   (BENCH_JOBS, BENCH_ROUNDS, BENCH_CONCURRENCY to change sizes)
import { randomBytes } from 'node:crypto';
import { Queue as BullQueue, Worker as BullWorker } from 'bullmq';
import { type BackendName, createQueue } from '../../src/queue/index.js';

const jobs = Number(process.env.BENCH_JOBS ?? 5000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 50);
const connection = { host: '127.0.0.1', port: 6379 };
const systems = ['redis', 'bullmq', 'nats', 'rabbitmq'] as const;
type System = (typeof systems)[number];

const options = {
  rabbitmq: { backend: 'rabbitmq', url: 'amqp://guest:guest@127.0.0.1:5672' },
  redis: { backend: 'redis', redis: 'redis://127.0.0.1:6379' },
  nats: { backend: 'nats', servers: '127.0.0.1:4222' },
} as const;

async function publishAll(publish: (i: number) => Promise<unknown>): Promise<void> {
  // Producers as a web app has them: many requests publishing at once, 200 in flight.
  for (let i = 0; i < jobs; i += 200) {
    await Promise.all(Array.from({ length: Math.min(200, jobs - i) }, (_, k) => publish(i + k)));
  }
}

async function runScaleplane(backend: BackendName): Promise<number> {
  const name = `bench-${randomBytes(4).toString('hex')}`;
  const queue = createQueue(options[backend]);
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const worker = queue.worker(
    name,
    () => {
      // the handler is empty: the figure is the queue's own cost
    },
    { concurrency },
  );
  worker.on('completed', () => {
    if (++done === jobs) finish();
  });
  await worker.ready;
  const start = performance.now();
  await publishAll((i) => queue.publish(name, { i }));
  await finished;
  const seconds = (performance.now() - start) / 1000;
  await worker.close();
  await queue.destroy(name);
  await queue.close();
  return jobs / seconds;
}

async function runBull(): Promise<number> {
  const name = `bench-${randomBytes(4).toString('hex')}`;
  const queue = new BullQueue(name, { connection });
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const worker = new BullWorker(name, async () => {}, { connection, concurrency });
  worker.on('completed', () => {
    if (++done === jobs) finish();
  });
  await worker.waitUntilReady();
  const start = performance.now();
  await publishAll((i) => queue.add('job', { i }, { removeOnComplete: true }));
  await finished;
  const seconds = (performance.now() - start) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return jobs / seconds;
}

const results = new Map<System, number[]>(systems.map((s) => [s, []]));
for (let round = 1; round <= rounds; round++) {
  for (const system of systems) {
    const rate = system === 'bullmq' ? await runBull() : await runScaleplane(system);
    results.get(system)!.push(rate);
    console.log(`round ${round} ${system.padEnd(9)} ${rate.toFixed(0)} jobs/s`);
  }
}
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
};
console.log(
  `\n${jobs} jobs, concurrency ${concurrency}, ${rounds} alternating rounds; median jobs/s end to end:`,
);
const bull = median(results.get('bullmq')!);
for (const system of systems) {
  const m = median(results.get(system)!);
  const label = system === 'bullmq' ? 'bullmq (reference)' : `scaleplane ${system}`;
  console.log(`  ${label.padEnd(22)} ${m.toFixed(0).padStart(7)}   ×${(m / bull).toFixed(2)} of BullMQ`);
}

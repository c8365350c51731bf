// bench/queue/metrics-ab.ts: what the queue's own Prometheus series cost per job, for one or more
// source trees (this one, or checkouts of other commits), in interleaved rounds (A B, A B, …), each
// run in a fresh child process. Two figures per run:
//   worker  the worker's own path alone: a stub backend hands a Worker N deliveries whose settles
//           resolve at once (no broker), the handler is empty; jobs/s and the process's CPU µs a job
//   redis   end to end on the Redis on 127.0.0.1:6379 (as bench/queue/run.ts): publish N jobs while
//           a worker of concurrency 50 runs them; jobs/s and this process's CPU µs a job (Redis apart)
// Prints every round, then per tree and mode the median, and its ratio to the first tree.
//
//   node --import tsx bench/queue/metrics-ab.ts [--trees DIR,DIR] [--rounds 5] [--jobs 200000]
//        [--redis-jobs 20000] [--modes worker,redis]
//
// A tree made with `git worktree add --detach DIR COMMIT` needs node_modules linked in.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    trees: { type: 'string' },
    rounds: { type: 'string', default: '5' },
    jobs: { type: 'string', default: '200000' },
    'redis-jobs': { type: 'string', default: '20000' },
    modes: { type: 'string', default: 'worker,redis' },
    child: { type: 'string' },
    mode: { type: 'string' },
  },
});
for (const flag of ['rounds', 'jobs', 'redis-jobs'] as const) {
  if (!/^[1-9]\d*$/.test(args[flag]))
    throw new Error(`--${flag}: want a whole number ≥ 1, got ${JSON.stringify(args[flag])}`);
}
const modes = args.modes.split(',');
for (const mode of modes)
  if (mode !== 'worker' && mode !== 'redis') throw new Error(`--modes: worker or redis, got ${mode}`);

interface Result {
  jobsPerSecond: number;
  cpuMicrosPerJob: number;
}

/** measure runs `work` (which handles `jobs` jobs) and reads wall and CPU time around it. */
async function measure(jobs: number, work: () => Promise<void>): Promise<Result> {
  const cpu = process.cpuUsage();
  const start = performance.now();
  await work();
  const seconds = (performance.now() - start) / 1000;
  const used = process.cpuUsage(cpu);
  return { jobsPerSecond: jobs / seconds, cpuMicrosPerJob: (used.user + used.system) / jobs };
}

// biome-ignore lint/suspicious/noExplicitAny: the module is loaded from a tree given at run time
type QueueModule = any;

/** workerPath runs `jobs` deliveries through a Worker of `tree` over a backend that answers at once. */
async function workerPath(q: QueueModule, jobs: number): Promise<Result> {
  const { Registry } = await import('prom-client');
  const metrics = q.queueMetrics(new Registry());
  let deliver: (d: unknown) => void = () => {};
  let consumed: () => void = () => {};
  const subscribed = new Promise<void>((r) => {
    consumed = r;
  });
  const backend = {
    name: 'redis',
    async consume(_queue: string, options: { deliver(d: unknown): void }) {
      deliver = (d) => options.deliver(d);
      consumed();
      return { wake() {}, async stop() {} };
    },
  };
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const settled = async () => {};
  const worker = new q.Worker(
    'bench',
    () => {},
    { concurrency: 1_000_000, closeTimeout: 0 },
    { backend, metrics, log: { info() {}, warn() {}, error() {} }, random: Math.random },
  );
  worker.on('completed', () => {
    if (++done === jobs) finish();
  });
  await subscribed;
  const result = await measure(jobs, async () => {
    // In batches, so the microtask queue drains between them as it would between socket reads.
    for (let i = 0; i < jobs; i += 1000) {
      for (let k = i; k < Math.min(jobs, i + 1000); k++)
        deliver({
          envelope: { id: String(k), queue: 'bench', payload: k, attempt: 1, publishedAt: 0 },
          attempt: 1,
          stalls: 0,
          ack: settled,
          retry: settled,
          deadLetter: settled,
          release: settled,
        });
      await new Promise((r) => setImmediate(r));
    }
    await finished;
  });
  await worker.close();
  return result;
}

/** redisPath publishes `jobs` jobs on the local Redis while one worker runs them (bench/queue/run.ts). */
async function redisPath(q: QueueModule, jobs: number): Promise<Result> {
  const name = `bench-metrics-${randomBytes(4).toString('hex')}`;
  const queue = q.createQueue({ backend: 'redis', redis: 'redis://127.0.0.1:6379' });
  let done = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((r) => {
    finish = r;
  });
  const worker = queue.worker(name, () => {}, { concurrency: 50 });
  worker.on('completed', () => {
    if (++done === jobs) finish();
  });
  await worker.ready;
  try {
    return await measure(jobs, async () => {
      for (let i = 0; i < jobs; i += 200)
        await Promise.all(
          Array.from({ length: Math.min(200, jobs - i) }, (_, k) => queue.publish(name, i + k)),
        );
      await finished;
    });
  } finally {
    await worker.close();
    await queue.destroy(name);
    await queue.close();
  }
}

if (args.child !== undefined) {
  const q = await import(resolve(args.child, 'src/queue/index.ts'));
  const result =
    args.mode === 'redis'
      ? await redisPath(q, Number(args['redis-jobs']))
      : await workerPath(q, Number(args.jobs));
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(0);
}

const here = import.meta.dirname;
const trees = (args.trees ?? resolve(here, '../..')).split(',').map((tree) => resolve(tree));
const results = new Map<string, Result[]>();
for (let round = 1; round <= Number(args.rounds); round++) {
  for (const mode of modes) {
    // Alternate which tree goes first, so drift over a round spreads over all of them.
    const order = round % 2 === 1 ? trees : [...trees].reverse();
    for (const tree of order) {
      const out = execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          import.meta.filename,
          '--child',
          tree,
          '--mode',
          mode,
          '--jobs',
          args.jobs,
          '--redis-jobs',
          args['redis-jobs'],
        ],
        { encoding: 'utf8', cwd: tree },
      );
      const result = JSON.parse(out.trim().split('\n').pop()!) as Result;
      const key = `${mode}\t${tree}`;
      results.set(key, [...(results.get(key) ?? []), result]);
      console.log(
        `round ${round} ${mode.padEnd(6)} ${tree}: ${result.jobsPerSecond.toFixed(0)} jobs/s, ${result.cpuMicrosPerJob.toFixed(1)} CPU µs/job`,
      );
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`\nmedians of ${args.rounds} interleaved rounds (ratio to the first tree):`);
for (const mode of modes) {
  const first = results.get(`${mode}\t${trees[0]}`)!;
  const base = {
    rate: median(first.map((r) => r.jobsPerSecond)),
    cpu: median(first.map((r) => r.cpuMicrosPerJob)),
  };
  for (const tree of trees) {
    const rs = results.get(`${mode}\t${tree}`)!;
    const rate = median(rs.map((r) => r.jobsPerSecond));
    const cpu = median(rs.map((r) => r.cpuMicrosPerJob));
    console.log(
      `  ${mode.padEnd(6)} ${tree}: ${rate.toFixed(0)} jobs/s (×${(rate / base.rate).toFixed(2)}), ${cpu.toFixed(1)} CPU µs/job (×${(cpu / base.cpu).toFixed(2)})`,
    );
  }
}

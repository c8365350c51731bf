// Reaction benchmark: a local group at its steady size gets a sudden load step through the
// balancer. Prints the seconds from the step to the first response served by an instance that did
// not exist before it, and the requests that failed meanwhile. Goal: under 5 s with the default
// policy (HPA needs a 15 s sync plus pod start-up).
//
//   npx tsx bench/reaction/run.ts [--metric inflight|cpu] [--target N] [--steady 8] [--clients 8] [--work-ms 50]
import { Agent, request } from 'node:http';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Scaleplane } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';

const { values: args } = parseArgs({
  options: {
    metric: { type: 'string', default: 'inflight' },
    steady: { type: 'string', default: '8' },
    clients: { type: 'string', default: '8' },
    'work-ms': { type: 'string', default: '50' },
    timeout: { type: 'string', default: '30' },
    target: { type: 'string' },
  },
});
const workMs = Number(args['work-ms']);
// In flight through the balancer sees a step at once; CPU needs samples, and on a shared machine
// instances may never reach a high CPU target however long the queue grows.
const target = Number(args.target ?? (args.metric === 'cpu' ? 40 : 2));
const metric = `- ${args.metric === 'cpu' ? 'cpu' : 'inflight'}: { target: ${target} }`;

// The default policy (`policy: default`: warm-up aware, panic on saturation) on a 1 s loop; the
// CPU window is short so a step shows within a couple of samples.
const yaml = `
api: { listen: 127.0.0.1:0 }
balancer:
  listen: 127.0.0.1:0
  health: { path: /healthz, interval: 250ms }
controller: { interval: 1s }
groups:
  web:
    command: node server.js
    min_instances: 2
    initial_instances: 2
    max_instances: 8
    scaling:
      policy: default
      metric_window: 2s
      metrics:
        ${metric}
`;

interface Outcome {
  at: number;
  ok: boolean;
  /** Port of the instance that served it (its address). */
  port?: number;
}

const app = await Scaleplane.start({
  config: parseConfig(yaml, { baseDir: resolve(import.meta.dirname, '../../examples/demo') }),
  logger: createLogger({ level: 'warn', pretty: false }),
  env: { SCALEPLANE_API_KEY: 'bench' },
});
const { host, port } = app.balancerAddress!;
const agent = new Agent({ keepAlive: true, maxSockets: 64 });

function get(path: string): Promise<Outcome> {
  return new Promise((done) => {
    const req = request({ host, port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => {
        const at = performance.now();
        if (res.statusCode !== 200) return done({ at, ok: false });
        try {
          done({ at, ok: true, port: (JSON.parse(body) as { port: number }).port });
        } catch {
          done({ at, ok: false });
        }
      });
      res.on('error', () => done({ at: performance.now(), ok: false }));
    });
    req.on('error', () => done({ at: performance.now(), ok: false }));
    req.end();
  });
}

const outcomes: Outcome[] = [];
let stop = false;
async function client(pauseMs: number, until: () => boolean): Promise<void> {
  while (!stop && !until()) {
    outcomes.push(await get(`/work?ms=${workMs}`));
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

try {
  const provider = app.providers.get('web')!;
  // Steady state: one client with pauses, well within two instances.
  const steadyClient = client(4 * workMs, () => false);
  await new Promise((r) => setTimeout(r, Number(args.steady) * 1000));
  const before = provider.instances();
  const known = new Set(before.map((i) => Number(i.address.split(':').at(-1))));
  console.log(`steady: ${before.length} instances (${before.map((i) => i.state).join(', ')})`);

  const step = performance.now();
  const stepEpoch = Date.now();
  let firstNew: Outcome | undefined;
  const deadline = step + Number(args.timeout) * 1000;
  const watch = setInterval(() => {
    firstNew ??= outcomes.find((o) => o.at >= step && o.ok && o.port !== undefined && !known.has(o.port));
  }, 20);
  const clients = Array.from({ length: Number(args.clients) }, () =>
    client(0, () => firstNew !== undefined || performance.now() > deadline),
  );
  await Promise.all(clients);
  clearInterval(watch);
  firstNew ??= outcomes.find((o) => o.at >= step && o.ok && o.port !== undefined && !known.has(o.port));
  stop = true;
  await steadyClient;

  const end = firstNew?.at ?? performance.now();
  const during = outcomes.filter((o) => o.at >= step && o.at <= end);
  const failed = during.filter((o) => !o.ok).length;
  const decisions = app.controller.journal
    .entries({ group: 'web' })
    .filter((e) => e.source === 'policy' && Date.parse(e.time) >= stepEpoch - 1000);
  const first = decisions[0];
  console.log(
    `metric: ${args.metric} target ${target}, policy: default, controller interval 1s, ${args.clients} clients × /work?ms=${workMs}`,
  );
  if (first) {
    console.log(
      `first decision after ${((Date.parse(first.time) - stepEpoch) / 1000).toFixed(2)} s: ${first.before} → ${first.after} [${first.reasons.join(', ')}]`,
    );
  }
  if (firstNew) {
    console.log(
      `reaction: ${((firstNew.at - step) / 1000).toFixed(2)} s from the step to the first response of a new instance`,
    );
  } else {
    console.log(`reaction: no new instance served within ${args.timeout} s`);
  }
  console.log(
    `requests during the reaction: ${during.length}, failed: ${failed} (before the step: ${outcomes.filter((o) => o.at < step && !o.ok).length} failed)`,
  );
  console.log(
    `rss ${Math.round(process.memoryUsage().rss / 2 ** 20)} MiB; ${(await import('node:os'))
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} load average`,
  );
} finally {
  stop = true;
  agent.destroy();
  await app.close();
}

// Faults outside Scaleplane while it serves steady load: a metric source answering garbage, and
// Redis, RabbitMQ and PostgreSQL stopped and restarted.
import { createServer } from 'node:http';
import amqp from 'amqplib';
import { Redis } from 'ioredis';
import { alertKeys } from '../../../src/alerts/index.js';
import type { Scaleplane } from '../../../src/app.js';
import { settled } from '../../helpers/scaleplane.js';
import {
  baseUrl,
  type ChaosRow,
  type Check,
  check,
  describeFailures,
  FULL,
  failuresOf,
  SIZE,
  startApp,
  steadyLoad,
  until,
} from '../harness.js';
import { OwnPostgres, OwnRedis, rabbitmqctl } from '../services.js';

const GROUP = 'web';
/** HOLD_MS is the least time a dependency stays broken: many controller ticks (500 ms each). */
const HOLD_MS = FULL ? 20_000 : 4000;

/** trackCount records the lowest and highest desired count while a fault lasts. */
function trackCount(app: Scaleplane) {
  const provider = app.providers.get(GROUP)!;
  let min = provider.desired();
  let max = min;
  const sample = () => {
    const d = provider.desired();
    min = Math.min(min, d);
    max = Math.max(max, d);
  };
  provider.on('change', sample);
  const timer = setInterval(sample, 20);
  return {
    stop: () => {
      clearInterval(timer);
      provider.off('change', sample);
      sample();
      return { min, max };
    },
  };
}

/** Outage describes one metric source (or the dependency behind it) going away and coming back. */
interface Outage {
  fault: string;
  /** The `metrics:` entries of the group (YAML, 8-space list items). */
  metrics: string;
  metric: string;
  /** The count the good metric asks for. */
  expected: number;
  path: string;
  env?: Record<string, string>;
  breakIt: () => Promise<void>;
  repairIt: () => Promise<void>;
  /** Keep the fault until this holds too (besides HOLD_MS and the request count). */
  holdUntil?: () => boolean;
  /** What "recovered" means. @defaultValue metric read again after the restart */
  recoveredWhen?: string;
  /** More checks once repaired, with the app still running. */
  afterRepair?: (app: Scaleplane) => Promise<Check[]>;
}

/**
 * metricOutage runs one outage. Bounds (the same for every metric dependency): zero failed
 * requests (the dependency is not on the request path, or is degraded around); the desired count
 * never drops below what the good metric asked for (a missing metric never scales down, even with
 * no stabilization window); the failure is reported (alert `metric-source:web:<metric>` fires) and
 * resolves once the dependency is back.
 */
async function metricOutage(outage: Outage): Promise<ChaosRow> {
  const scaling = `      metrics:\n${outage.metrics}      behavior:\n        scale_down: { stabilization_window: 0s }\n`;
  const app = await startApp({ min: 1, max: 4, scaling, ...(outage.env && { env: outage.env }) });
  const key = alertKeys.metricSource(GROUP, outage.metric);
  try {
    await settled(app, GROUP, outage.expected, 60_000);
    const load = steadyLoad(`${baseUrl(app)}${outage.path}`);
    await load.reached(SIZE.before);
    const tracker = trackCount(app);
    const brokenAt = performance.now();
    await outage.breakIt();
    const reportedAfter = await until(() => app.alerts.isFiring(key), 60_000, `alert ${key} fires`);
    const summary = app.alerts.active().find((a) => a.key === key)?.summary ?? '';
    await Promise.all([
      load.reached(SIZE.during),
      new Promise((r) => setTimeout(r, Math.max(0, HOLD_MS - (performance.now() - brokenAt)))),
    ]);
    if (outage.holdUntil) await until(outage.holdUntil, 60_000, 'fault held long enough');
    const repairedAt = performance.now();
    await outage.repairIt();
    await until(() => !app.alerts.isFiring(key), 60_000, `alert ${key} resolves`);
    // From the restart command: a restart that returns late (rabbitmqctl) must not hide time.
    const recoveryMs = performance.now() - repairedAt;
    const { min } = tracker.stop();
    const more = (await outage.afterRepair?.(app)) ?? [];
    await load.reached(SIZE.after);
    const r = await load.stop();
    return {
      fault: outage.fault,
      requests: r.ok + r.non2xx + r.errors,
      failures: failuresOf(r),
      recoveryMs,
      recoveredWhen: outage.recoveredWhen ?? 'metric read again after the restart (alert resolved)',
      checks: [
        check('zero failed requests', failuresOf(r) === 0, describeFailures(r)),
        check(`no scale-down (stayed ≥ ${outage.expected})`, min >= outage.expected, `lowest desired ${min}`),
        check('failure reported (alert fired)', true, summary),
        ...more,
      ],
      note: `alert after ${reportedAfter.toFixed(0)} ms: "${summary.slice(0, 90)}"`,
    };
  } finally {
    await app.close();
  }
}

/**
 * GARBAGE is what the broken Prometheus answers, in turn: malformed or truncated JSON, NaN and
 * infinite samples, an error page, an empty body, the wrong result type, an empty vector.
 */
const GARBAGE: [number, string][] = [
  [200, '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}'],
  [200, '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,'],
  [200, 'this is not JSON'],
  [200, '{"status":"success","data":{"resultType":"scalar","result":[1,"+Inf"]}}'],
  [502, '<html><body>Bad Gateway</body></html>'],
  [200, ''],
  [200, '{"status":"success","data":{"resultType":"matrix","result":[]}}'],
  [200, '{"status":"success","data":{"resultType":"vector","result":[]}}'],
  [200, '{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"many"]}]}}'],
  [200, '{"status":"success"}'],
];

/**
 * garbageMetric: the Prometheus query a group scales on starts answering garbage (see GARBAGE).
 * Bounds: those of metricOutage, plus a control: once valid answers return, a low value does
 * scale the group down — so "no scale-down" above was the garbage's doing, not a stuck controller.
 */
export async function garbageMetric(): Promise<ChaosRow> {
  let answer: number | 'garbage' = 25; // target 10 per instance → 3 instances
  let served = 0;
  const prometheus = createServer((_req, res) => {
    if (answer === 'garbage') {
      const [status, body] = GARBAGE[served++ % GARBAGE.length]!;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(body);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        status: 'success',
        data: { resultType: 'vector', result: [{ metric: {}, value: [Date.now() / 1000, String(answer)] }] },
      }),
    );
  });
  await new Promise<void>((r) => prometheus.listen(0, '127.0.0.1', r));
  const { port } = prometheus.address() as { port: number };
  try {
    const row = await metricOutage({
      fault: 'metric source returns garbage',
      metrics: `        - prometheus: { url: "http://127.0.0.1:${port}", query: chaos_load, target: 10 }\n`,
      metric: 'prometheus',
      expected: 3,
      path: '/',
      holdUntil: () => served >= GARBAGE.length,
      recoveredWhen: 'valid answers read again (alert resolved)',
      breakIt: async () => {
        served = 0;
        answer = 'garbage';
      },
      repairIt: async () => {
        answer = 25;
      },
      afterRepair: async (app) => {
        answer = 5; // a real low value: 1 instance
        const ms = await until(() => app.providers.get(GROUP)!.desired() === 1, 30_000, 'scaled down to 1');
        return [check('control: a valid low value scales down', true, `${ms.toFixed(0)} ms`)];
      },
    });
    row.note = `${served} garbage answers (${GARBAGE.length} kinds); ${row.note}`;
    return row;
  } finally {
    await new Promise((r) => prometheus.close(r));
  }
}

/**
 * redisRestart: the group's Redis (the backends' cache, and the backlog the group scales on) is
 * killed (SIGKILL) and restarted on the same port; its append-only file keeps the backlog.
 * Bounds: metricOutage's. Requests go through the cache (`/cache`, no memory tier), which falls
 * through to its loader while Redis is away.
 */
export async function redisRestart(): Promise<ChaosRow> {
  const redis = await OwnRedis.start();
  const client = new Redis(redis.url, { lazyConnect: true });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.rpush('chaos:backlog', ...Array.from({ length: 10 }, (_, i) => `job-${i}`));
    client.disconnect();
    return await metricOutage({
      fault: 'Redis killed and restarted',
      metrics: `        - redis: { url: "${redis.url}", key: "chaos:backlog", target: 5 }\n`,
      metric: 'redis',
      expected: 2,
      path: '/cache?key=hot',
      env: { CHAOS_REDIS_URL: redis.url },
      breakIt: () => redis.kill(),
      repairIt: () => redis.restart(),
    });
  } finally {
    client.disconnect();
    await redis.close();
  }
}

const AMQP_URL = 'amqp://guest:guest@127.0.0.1:5672';

/**
 * rabbitmqRestart: the shared broker's app is stopped (`rabbitmqctl stop_app`) and started again
 * while a group scales on a durable queue's depth (10 persistent messages, target 5 → 2).
 * Bounds: metricOutage's. The broker is not on the request path here; test/queue/chaos covers
 * the job path through the same fault.
 */
export async function rabbitmqRestart(): Promise<ChaosRow> {
  const queue = `chaos-${process.pid}-${Date.now()}`;
  const connection = await amqp.connect(AMQP_URL);
  const channel = await connection.createChannel();
  await channel.assertQueue(queue, { durable: true });
  for (let i = 0; i < 10; i++) channel.sendToQueue(queue, Buffer.from(`job-${i}`), { persistent: true });
  await channel.close();
  await connection.close();
  let stopped = false;
  try {
    return await metricOutage({
      fault: 'RabbitMQ stop_app / start_app',
      metrics: `        - rabbitmq: { url: "${AMQP_URL}", queue: "${queue}", target: 5 }\n`,
      metric: 'rabbitmq',
      expected: 2,
      path: '/',
      breakIt: async () => {
        stopped = true;
        await rabbitmqctl('stop_app');
      },
      repairIt: async () => {
        await rabbitmqctl('start_app');
        stopped = false;
      },
    });
  } finally {
    if (stopped) await rabbitmqctl('start_app');
    const cleanup = await amqp.connect(AMQP_URL).catch(() => undefined);
    if (cleanup) {
      const ch = await cleanup.createChannel();
      await ch.deleteQueue(queue).catch(() => {});
      await cleanup.close().catch(() => {});
    }
  }
}

/**
 * postgresReplicaRestart: the read replica behind the backends' replicas router crashes
 * (`pg_ctl stop -m immediate`) and is started again; every request reads through the router.
 * Bounds: zero failed reads (the router retries a read that hit the dead replica on the primary
 * and sends later reads there); reads return to the replica after the restart.
 */
export async function postgresReplicaRestart(): Promise<ChaosRow> {
  const pg = await OwnPostgres.start();
  const app = await startApp({
    min: 2,
    max: 2,
    env: { CHAOS_PG_PRIMARY: String(pg.primaryPort), CHAOS_PG_REPLICA: String(pg.replicaPort) },
  });
  const url = `${baseUrl(app)}/db`;
  // onReplica: the next reads, one per instance at least, all come from the replica.
  const onReplica = async () => {
    for (let i = 0; i < 6; i++) {
      const res = await fetch(url);
      if (!res.ok || !((await res.json()) as { replica: boolean }).replica) return false;
    }
    return true;
  };
  try {
    await settled(app, GROUP, 2, 60_000);
    await until(onReplica, 30_000, 'reads served by the replica');
    const load = steadyLoad(url);
    await load.reached(SIZE.before);
    const stoppedAt = performance.now();
    await pg.stopReplica();
    await Promise.all([
      load.reached(SIZE.during),
      new Promise((r) => setTimeout(r, Math.max(0, HOLD_MS - (performance.now() - stoppedAt)))),
    ]);
    await pg.startReplica();
    const recoveryMs = await until(onReplica, 60_000, 'reads back on the replica', 100);
    await load.reached(SIZE.after);
    const r = await load.stop();
    return {
      fault: 'PostgreSQL replica crash + restart',
      requests: r.ok + r.non2xx + r.errors,
      failures: failuresOf(r),
      recoveryMs,
      recoveredWhen: 'reads served by the replica again after its restart',
      checks: [
        check('zero failed reads', failuresOf(r) === 0, describeFailures(r)),
        check('reads back on the replica', true),
      ],
      note: 'reads fell back to the primary while the replica was down',
    };
  } finally {
    await app.close();
    await pg.close();
  }
}

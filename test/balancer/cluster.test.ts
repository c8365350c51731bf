// All cores: the data path on node:cluster workers sharing one port, fed membership and health by
// this (controller) process.
import assert from 'node:assert/strict';
import cluster from 'node:cluster';
import { once } from 'node:events';
import http from 'node:http';
import { test } from 'node:test';
import { Balancer } from '../../src/balancer/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { until } from '../helpers/until.js';
import { config, ready, startBackend } from './helpers.js';

function get(agent: http.Agent, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
        });
        res.on('end', () => resolve(`${res.statusCode} ${body}`));
      })
      .on('error', reject);
  });
}

test('workers: 2 serve on one port; health and membership pushed from here reach them', async (t) => {
  let bHealth = 200;
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const b = await startBackend(t, (_req, res) => res.end('b'), { health: () => bHealth });
  const balancer = new Balancer({
    config: config({ workers: 2 }, { interval: 200, unhealthyThreshold: 1 }),
    metrics: createMetrics({ defaultMetrics: false }),
  });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['a', a.address]));
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: false });

  const first = await Promise.all(Array.from({ length: 10 }, () => get(agent, port)));
  assert.deepEqual(new Set(first), new Set(['200 a']));

  // Pushes travel over IPC to each worker: wait for them to land (a slow machine takes longer),
  // never for a fixed time.
  let sent = first.length;
  const answers = async () => {
    sent += 20;
    return new Set(await Promise.all(Array.from({ length: 20 }, () => get(agent, port))));
  };
  balancer.setGroup('web', ready(['a', a.address], ['b', b.address]));
  await until(async () => (await answers()).has('200 b'), 20_000, 'b served by a worker');
  const both = await answers();
  assert.deepEqual([...both].sort(), ['200 a', '200 b']);

  bHealth = 503;
  await once(balancer, 'health');
  await until(async () => !(await answers()).has('200 b'), 20_000, 'the verdict on b pushed');
  const healthy = await answers();
  assert.deepEqual([...healthy], ['200 a'], 'unhealthy b gets nothing once the verdict is pushed');

  // Traffic stats come back from the workers.
  await until(() => balancer.stats('web').requests >= sent, 20_000, `workers report all ${sent} requests`);
  await balancer.drain('web', 'a');
});

test('workers: requests they serve are counted on this process registry (/metrics)', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const metrics = createMetrics({ defaultMetrics: true });
  const balancer = new Balancer({ config: config({ workers: 2 }), metrics });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['a', a.address]));
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: false });
  const n = 37;
  for (let i = 0; i < n; i++) assert.equal(await get(agent, port), '200 a');

  const text = await metrics.registry.metrics();
  assert.match(text, new RegExp(`scaleplane_requests_total\\{group="web",code="2xx"\\} ${n}\\n`));
  assert.match(text, new RegExp(`scaleplane_request_duration_seconds_count\\{group="web"\\} ${n}\\n`));
  assert.match(text, /scaleplane_inflight_requests\{group="web"\} 0\n/);
  // This process's own series stay, once each.
  assert.equal(text.match(/^# TYPE scaleplane_process_process_cpu_seconds_total /gm)?.length, 1);
  assert.equal(text.match(/^# TYPE scaleplane_requests_total /gm)?.length, 1);
  // Readers of one metric (latency source, dashboard) see the workers' counts too.
  const counted = await metrics.registry.getSingleMetric('scaleplane_requests_total')!.get();
  const twoxx = counted.values.find((v) => v.labels.group === 'web' && v.labels.code === '2xx');
  assert.equal(twoxx?.value, n);
  // …and a metric read that way can still be written by this process.
  metrics.requests.inc({ group: 'web', code: '5xx' });
  assert.match(await metrics.registry.metrics(), /scaleplane_requests_total\{group="web",code="5xx"\} 1\n/);
});

test('workers: a worker that does not answer a scrape counts as it last did, so counters never go down', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({ config: config({ workers: 2 }), metrics });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['a', a.address]));
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: false });
  const n = 20;
  for (let i = 0; i < n; i++) assert.equal(await get(agent, port), '200 a');
  const served = /scaleplane_requests_total\{group="web",code="2xx"\} (\d+)\n/;
  assert.equal((await metrics.registry.metrics()).match(served)?.[1], String(n), 'both workers answered');

  // Every worker paused (SIGSTOP: a long GC, a CPU-starved container): none answers this scrape.
  const pids = Object.values(cluster.workers ?? {}).map((w) => w!.process.pid!);
  assert.equal(pids.length, 2, 'two data-path workers in this process');
  const resume = () => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {}
    }
  };
  t.after(resume);
  for (const pid of pids) process.kill(pid, 'SIGSTOP');
  const paused = (await metrics.registry.metrics()).match(served)?.[1];
  resume();
  assert.equal(
    paused,
    String(n),
    `requests_total read ${paused ?? 'absent'} while the workers were paused, after ${n}: Prometheus takes a drop for a counter reset and rate() spikes`,
  );
  assert.match(
    await metrics.registry.metrics(),
    new RegExp(`scaleplane_requests_total\\{group="web",code="2xx"\\} ${n}\\n`),
    'the workers answer again once resumed',
  );
});

/** logs collects what the balancer (and its workers, with `worker` set) log. */
function logs() {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const at =
    (level: string) =>
    (fields: Record<string, unknown>, message: string): void => {
      lines.push({ level, message, fields });
    };
  return { lines, logger: { info: at('info'), warn: at('warn'), error: at('error') } };
}

/** workersThat lists the ids of the workers that logged `message`. */
function workersThat(lines: ReturnType<typeof logs>['lines'], message: string): Set<unknown> {
  return new Set(lines.filter((l) => l.message === message).map((l) => l.fields.worker));
}

/** outlierConfig ejects on the first 5xx, for `baseEjectionTime` ms, on 2 workers. */
function outlierConfig(baseEjectionTime: number) {
  return config({
    workers: 2,
    outlier: {
      consecutive5xx: 1,
      consecutiveGatewayErrors: 0,
      baseEjectionTime,
      maxEjectionTime: 300_000,
      maxEjectionPercent: 50,
      panicThreshold: 0,
    },
  });
}

/** outlierCounts reads the outlier counters of group `web` from the /metrics text (absent = 0). */
async function outlierCounts(metrics: ReturnType<typeof createMetrics>) {
  const text = await metrics.registry.metrics();
  const read = (series: string) => {
    const lines = text.split('\n').filter((l) => l.startsWith(`${series} `));
    assert.ok(lines.length <= 1, `${series} appears once`);
    return lines.length === 0 ? 0 : Number(lines[0]!.slice(series.length + 1));
  };
  return {
    ejections: read('scaleplane_outlier_ejections_total{group="web",reason="Consecutive5xx"}'),
    recoveries: read('scaleplane_outlier_recoveries_total{group="web"}'),
  };
}

test('workers: an instance ejected by both workers is reported once, and back once when both let it back', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const b = await startBackend(t, (_req, res) => {
    res.statusCode = 500;
    res.end('b');
  });
  const { lines, logger } = logs();
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({
    // Long enough that the first worker's ejection outlasts the requests that make the second eject.
    config: outlierConfig(8000),
    metrics,
    logger,
  });
  t.after(() => balancer.close());
  const events: string[] = [];
  balancer.on('ejection', (e) => events.push(`ejection ${e.id}`));
  balancer.on('unhealthy', (e) => events.push(`unhealthy ${e.id} ${e.source}`));
  balancer.on('recovery', (e) => events.push(`recovery ${e.id}`));
  balancer.setGroup('web', ready(['a', a.address], ['b', b.address]));
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: false });

  // Fresh connections, several at once, until each worker has seen b fail and ejected it.
  await until(
    async () => {
      await Promise.all(Array.from({ length: 8 }, () => get(agent, port)));
      return workersThat(lines, 'backend ejected').size === 2;
    },
    60_000,
    'both workers ejected b',
  );
  // A drain round trip to every worker: whatever they sent before has arrived.
  await balancer.drain('web', 'none');
  assert.deepEqual(events, ['ejection b', 'unhealthy b outlier'], 'one ejection for two workers');
  // /metrics agrees with the journal: each worker counted its own ejection, only this process's count shows.
  assert.deepEqual(await outlierCounts(metrics), { ejections: 1, recoveries: 0 });

  await until(() => workersThat(lines, 'backend back from ejection').size === 2, 60_000, 'both let b back');
  await balancer.drain('web', 'none');
  assert.deepEqual(
    events,
    ['ejection b', 'unhealthy b outlier', 'recovery b'],
    'one recovery, after the last',
  );
  assert.deepEqual(await outlierCounts(metrics), { ejections: 1, recoveries: 1 });
});

test('workers: an instance whose ejecting workers die is back everywhere: one recovery, counted once', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const b = await startBackend(t, (_req, res) => {
    res.statusCode = 500;
    res.end('b');
  });
  const { lines, logger } = logs();
  const metrics = createMetrics({ defaultMetrics: false });
  // Ejected for far longer than the test: only a worker's death brings b back.
  const balancer = new Balancer({ config: outlierConfig(300_000), metrics, logger });
  t.after(() => balancer.close());
  const events: string[] = [];
  balancer.on('ejection', (e) => events.push(`ejection ${e.id}`));
  balancer.on('recovery', (e) => events.push(`recovery ${e.id}`));
  balancer.setGroup('web', ready(['a', a.address], ['b', b.address]));
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: false });
  await until(
    async () => {
      await Promise.all(Array.from({ length: 4 }, () => get(agent, port)));
      return workersThat(lines, 'backend ejected').size >= 1;
    },
    60_000,
    'a worker ejected b',
  );
  // A drain round trip to every worker: the other's ejection, if it sent one, has arrived too.
  await balancer.drain('web', 'none');
  // The workers report their own counts at this scrape (and a dead one's would stay in the totals).
  assert.deepEqual(await outlierCounts(metrics), { ejections: 1, recoveries: 0 });

  const holders = [...workersThat(lines, 'backend ejected')].map((id) => cluster.workers?.[id as number]);
  for (const worker of holders) {
    assert.ok(worker !== undefined, 'worker !== undefined');
    // The next kill only once the replacement listens: the port closes when no worker holds it.
    const listening = once(cluster, 'listening');
    worker.process.kill('SIGKILL');
    await listening;
  }
  await until(() => events.includes('recovery b'), 20_000, 'b back once its last holder died');
  assert.deepEqual(events, ['ejection b', 'recovery b']);
  assert.deepEqual(await outlierCounts(metrics), { ejections: 1, recoveries: 1 });
});

test('workers: counters stay monotonic across worker deaths (the dead ones keep their last totals)', async (t) => {
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const metrics = createMetrics({ defaultMetrics: false });
  const balancer = new Balancer({ config: config({ workers: 2 }), metrics });
  t.after(() => balancer.close());
  balancer.setGroup('web', ready(['a', a.address]));
  const { port } = await balancer.listen();
  const agent = new http.Agent({ keepAlive: false });
  const served = async () => {
    const counted = await metrics.registry.getSingleMetric('scaleplane_requests_total')!.get();
    return counted.values.find((v) => v.labels.group === 'web' && v.labels.code === '2xx')?.value ?? 0;
  };
  const n = 30;
  for (let i = 0; i < n; i++) assert.equal(await get(agent, port), '200 a');
  assert.equal(await served(), n);

  // Both original workers die, one after the other (whichever served the requests, its count goes).
  const originals = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  assert.equal(originals.length, 2);
  const seen: number[] = [n];
  for (const worker of originals) {
    // The next kill only once the replacement listens: the port closes when no worker holds it.
    const listening = once(cluster, 'listening');
    worker.process.kill('SIGKILL');
    await listening;
    seen.push(await served());
  }
  assert.deepEqual(seen, [n, n, n], 'the dead workers’ requests still counted');

  const m = 10;
  for (let i = 0; i < m; i++) assert.equal(await get(agent, port), '200 a');
  assert.equal(await served(), n + m, 'old totals plus what the replacements served');
});

// `scaleplane simulate --prometheus`: a real Prometheus (Debian package, scripts/services/prometheus.sh)
// scrapes a tiny prom-client server whose counter the test drives at known rates, and the trace
// fetched back with rate(...) must show those rates.
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Counter, Registry } from 'prom-client';
import { fetchPrometheusTrace, type TimedTrace, TraceError } from '../../src/sim/index.js';
import { runCli } from '../helpers/cli-process.js';
import { freePort } from '../helpers/ports.js';
import { PROMETHEUS, poll, type RunningPrometheus, startPrometheus } from '../helpers/prometheus.js';

const PHASE_S = 12;
const [RATE_A, RATE_B, RATE_OTHER] = [20, 80, 5];
const WINDOW_S = 4;
const QUERY_A = `rate(driven_requests_total{path="/a"}[${WINDOW_S}s])`;

/**
 * A counter whose value is a function of the clock (computed when scraped), so the rates it shows
 * are exact whatever the timers of a loaded machine do: path /a at 20 req/s, then from `switchAt`
 * (unix s) at 80; path /b at 5 throughout. Both start at a large value, as a long-running server's
 * would (rate() extrapolates no further back than a counter's zero). Each sample is exposed with
 * the time its value was computed at (the text format's timestamp, which Prometheus honours):
 * stamped with the scrape's start instead, a reply delayed 0.3 s more than the one before on a
 * loaded machine (load average 15) read 88.5 for 80 req/s.
 */
class DrivenServer {
  switchAt = Number.POSITIVE_INFINITY;
  readonly #t0 = Date.now() / 1000;
  readonly #registry = new Registry();
  readonly #server: Server;
  constructor() {
    const last = { '/a': 0, '/b': 0 };
    let collectedAt = 0;
    const total = (path: '/a' | '/b', now: number) =>
      path === '/a'
        ? 1000 +
          RATE_A * (Math.min(now, this.switchAt) - this.#t0) +
          RATE_B * Math.max(0, now - this.switchAt)
        : 500 + RATE_OTHER * (now - this.#t0);
    new Counter({
      name: 'driven_requests_total',
      help: 'requests, driven by the test at known rates',
      labelNames: ['path'],
      registers: [this.#registry],
      collect() {
        const now = Date.now() / 1000;
        collectedAt = now;
        for (const path of ['/a', '/b'] as const) {
          const value = total(path, now);
          this.inc({ path }, value - last[path]);
          last[path] = value;
        }
      },
    });
    this.#server = createServer((_req, res) => {
      this.#registry.metrics().then((text) => {
        res.setHeader('content-type', this.#registry.contentType);
        const stamp = Math.round(collectedAt * 1000);
        res.end(text.replace(/^(driven_requests_total\{[^}]*\} \S+)$/gm, `$1 ${stamp}`));
      });
    });
  }
  listen(): Promise<string> {
    return new Promise((resolve) =>
      this.#server.listen(0, '127.0.0.1', () => {
        const { port } = this.#server.address() as { port: number };
        resolve(`127.0.0.1:${port}`);
      }),
    );
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

/** The value of `trace` at unix second `t` (undefined outside it). */
function at(trace: TimedTrace, t: number): number | undefined {
  const i = t - trace.start;
  return i >= 0 && i < trace.perSecond.length ? trace.perSecond[i] : undefined;
}

async function traceError(promise: Promise<unknown>, code: TraceError['code']): Promise<string> {
  const err = await promise.then(
    () => assert.fail(`no ${code}`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof TraceError, String(err));
  assert.equal(err.code, code, err.message);
  return err.message;
}

describe('simulate --prometheus', { skip: PROMETHEUS ? false : 'run scripts/services/prometheus.sh' }, () => {
  const driven = new DrivenServer();
  let prometheus: RunningPrometheus;
  let target: string;
  // Unix seconds: the first second Prometheus had scraped by, and the end of phase B.
  let up: number;
  let end: number;

  before(async () => {
    target = await driven.listen();
    prometheus = await startPrometheus([
      '  - job_name: driven',
      `    static_configs: [ { targets: ["${target}"] } ]`,
    ]);
    await poll(
      async () => (await prometheus.query('up{job="driven"}'))[0]?.value[1] === '1',
      30_000,
      'prometheus scraping the driven server',
    );
    up = Math.ceil(Date.now() / 1000);
    driven.switchAt = up + PHASE_S;
    end = driven.switchAt + PHASE_S;
    // Awaited, not slept: until Prometheus holds a sample from the end of phase B.
    await poll(
      async () =>
        Number((await prometheus.query('timestamp(driven_requests_total{path="/a"})'))[0]?.value[1] ?? 0) >=
        end,
      PHASE_S * 2_000 + 20_000,
      'a sample past the end of phase B',
    );
  });
  after(async () => {
    await prometheus?.close();
    await driven.close();
  });

  it('rate(...) comes back per second at the driven rates, chunked or not', async () => {
    const options = { url: prometheus.url, query: QUERY_A, start: up, end, step: 1 };
    const trace = await fetchPrometheusTrace(options);
    // A window of WINDOW_S seconds lies wholly in one phase; a sample's value is computed a few ms
    // after its scrape timestamp, so allow 10 %.
    const phaseA = [];
    for (let t = up + WINDOW_S + 1; t <= driven.switchAt - 1; t++) phaseA.push(at(trace, t));
    const phaseB = [];
    for (let t = driven.switchAt + WINDOW_S + 1; t <= end; t++) phaseB.push(at(trace, t));
    assert.ok(phaseA.length >= 5 && phaseB.length >= 5, 'phaseA.length >= 5 && phaseB.length >= 5');
    for (const v of phaseA)
      assert.ok(v !== undefined && Math.abs(v - RATE_A) <= 0.1 * RATE_A, `A: ${phaseA}`);
    for (const v of phaseB)
      assert.ok(v !== undefined && Math.abs(v - RATE_B) <= 0.1 * RATE_B, `B: ${phaseB}`);

    // Five points per request: the same series, the same seconds.
    const chunked = await fetchPrometheusTrace({ ...options, maxPoints: 5 });
    assert.equal(chunked.start, trace.start);
    assert.deepEqual(chunked.perSecond, trace.perSecond);

    // 15,001 points: Prometheus itself refuses them in one query (its error shown verbatim); in
    // chunks the series comes back from its first sample, as over the short range.
    const long = { ...options, start: end - 15_000 };
    const refused = await traceError(
      fetchPrometheusTrace({ ...long, maxPoints: 20_000 }),
      'PROMETHEUS_ERROR',
    );
    assert.match(
      refused,
      /^Prometheus: bad_data: .*exceeded maximum resolution of 11,000 points per timeseries/,
    );
    const whole = await fetchPrometheusTrace(long);
    assert.equal(whole.start, trace.start);
    assert.deepEqual(whole.perSecond, trace.perSecond);
  });

  it('a query of two series fails naming them; Prometheus errors are shown verbatim', async () => {
    const base = { url: prometheus.url, start: up, end, step: 1 };
    const two = await traceError(
      fetchPrometheusTrace({ ...base, query: `rate(driven_requests_total[${WINDOW_S}s])` }),
      'PROMETHEUS_SERIES',
    );
    assert.match(two, /the query returned 2 series between .* expected exactly 1/);
    assert.ok(two.includes(`{instance="${target}", job="driven", path="/a"}`), two);
    assert.ok(two.includes(`{instance="${target}", job="driven", path="/b"}`), two);
    assert.ok(two.includes('sum(rate(driven_requests_total'), two);
    const none = await traceError(
      fetchPrometheusTrace({ ...base, query: 'no_such_metric' }),
      'PROMETHEUS_SERIES',
    );
    assert.match(none, /returned 0 series/);
    const syntax = await traceError(fetchPrometheusTrace({ ...base, query: 'rate(' }), 'PROMETHEUS_ERROR');
    assert.match(syntax, /^Prometheus: bad_data: .*parse error/);
    const notApi = await traceError(
      fetchPrometheusTrace({ ...base, url: `${prometheus.url}/nope`, query: QUERY_A }),
      'PROMETHEUS_ERROR',
    );
    assert.match(notApi, /answered HTTP 404 without an API response/);
  });

  it('the CLI replays it (ISO --since/--until, --step 1s, --absolute) and refuses two series', async () => {
    const timeline = join(tmpdir(), `scaleplane-prom-timeline-${process.pid}.csv`);
    const iso = (t: number) => new Date(t * 1000).toISOString();
    const common = [
      'simulate',
      '--prometheus',
      prometheus.url,
      '--since',
      iso(up),
      '--until',
      iso(end),
      '--step',
      '1s',
    ];
    try {
      const [ok, two] = await Promise.all([
        runCli([
          ...common,
          '--query',
          `sum(${QUERY_A})`,
          '--absolute',
          '--capacity',
          '10',
          '--aggregate',
          '1',
          '--timeline',
          timeline,
        ]),
        runCli([...common, '--query', `rate(driven_requests_total[${WINDOW_S}s])`]),
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.match(ok.stdout, /as is \(--absolute\)/);
      assert.doesNotMatch(ok.stderr, /warning/, 'a complete answer warns of nothing');
      const from = /seconds \[0, \d+\) from (\S+) /.exec(ok.stdout);
      assert.ok(from, ok.stdout);
      const start = Date.parse(from[1]!) / 1000;
      const demand = new Map(
        (await readFile(timeline, 'utf8'))
          .trim()
          .split('\n')
          .slice(1)
          .map((line) => line.split(',').map(Number) as [number, number])
          .map(([t, d]) => [start + t, d]),
      );
      for (const [t0, t1, rate] of [
        [up + WINDOW_S + 1, driven.switchAt - 1, RATE_A],
        [driven.switchAt + WINDOW_S + 1, end, RATE_B],
      ] as const) {
        for (let t = t0; t <= t1; t++) {
          const d = demand.get(t);
          assert.ok(d !== undefined && Math.abs(d - rate) <= 0.1 * rate, `${t}: ${d} vs ${rate}`);
        }
      }
      assert.equal(two.code, 1);
      assert.match(two.stderr, /^scaleplane: the query returned 2 series .*path="\/a"}, .*path="\/b"}/m);
    } finally {
      await rm(timeline, { force: true });
    }
  });
});

describe('simulate --prometheus on a partial answer', {
  skip: PROMETHEUS ? false : 'run scripts/services/prometheus.sh',
}, () => {
  it('replays it, and says on stderr what Prometheus warned of (a remote read that failed)', async () => {
    // A remote_read endpoint that refuses connections: Prometheus answers `success` with the local
    // part only and a `warnings` entry. Before, the replay ran on it without a word.
    const refused = await freePort();
    const partial = await startPrometheus([], {
      config: ['remote_read:', `  - url: http://127.0.0.1:${refused}/read`, '    read_recent: true'],
    });
    try {
      const now = Math.floor(Date.now() / 1000);
      const trace = await fetchPrometheusTrace({
        url: partial.url,
        query: 'sum(up) or vector(4)',
        start: now - 300,
        end: now,
        step: 60,
      });
      assert.equal(trace.perSecond[0], 4);
      assert.equal(trace.warnings.length, 1, JSON.stringify(trace.warnings));
      assert.match(trace.warnings[0]!, /remote_read: .*refused/);
      const cli = await runCli([
        'simulate',
        '--prometheus',
        partial.url,
        '--query',
        'sum(up) or vector(4)',
        '--since',
        '5m',
        '--absolute',
        '--capacity',
        '10',
        '--json',
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(
        cli.stderr,
        /^scaleplane: warning: Prometheus answered with warnings, the replayed traffic may be partial: remote_read: .*refused/m,
      );
      assert.equal(JSON.parse(cli.stdout.trim().split('\n')[0]!).policy, 'default', 'stdout stays JSON');
    } finally {
      await partial.close();
    }
  });
});

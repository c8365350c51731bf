// Acceptance: a controller restarted after SIGKILL (file state, no lease) under steady GET load.
// What a client sees, precisely: every HTTP answer is 2xx — before the kill, across the restart and
// after (no 503 while the adopted instances pass their first health check: the restarted balancer
// opens its port only once they have); connects are refused while no process listens, and the
// client retries those (nothing was sent); the only other errors are resets of requests sent before
// the old process was seen to exit (in flight at the kill, or accepted by its dying socket).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { UpProcess } from '../helpers/cli-process.js';
import { countWaiters, DEMO_WEB, recordStarted, writeFileStateConfig } from '../helpers/ha.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { freePort } from '../helpers/ports.js';

const TOKEN = 'ha-restart-load-token';
const CLIENTS = 3;
/** Every client stops by itself after this, whatever happens (bounded load). */
const LOAD_LIMIT_MS = 180_000;

type Outcome = { status: number } | { code: string };

/** get sends one GET on a fresh connection (no keep-alive: each request's own connect shows). */
function get(port: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ code: err.code ?? err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ code: err.code ?? err.message }));
  });
}

interface LoadFigures {
  ok: number;
  /** Non-2xx answers by status. */
  statuses: Record<number, number>;
  /** Refused connects, each retried. */
  refused: number;
  /** Other errors, with when their request started (performance.now()). */
  errors: { code: string; startedAt: number }[];
}

/** steadyLoad runs CLIENTS clients sending GETs back to back until stopped (or LOAD_LIMIT_MS). */
function steadyLoad(port: number) {
  const figures: LoadFigures = { ok: 0, statuses: {}, refused: 0, errors: [] };
  let stopped = false;
  const limit = setTimeout(() => {
    stopped = true;
  }, LOAD_LIMIT_MS);
  const waiters = countWaiters('answers 2xx');
  const client = async () => {
    while (!stopped) {
      const startedAt = performance.now();
      const outcome = await get(port);
      if ('status' in outcome) {
        if (outcome.status >= 200 && outcome.status < 300) figures.ok++;
        else figures.statuses[outcome.status] = (figures.statuses[outcome.status] ?? 0) + 1;
      } else if (outcome.code === 'ECONNREFUSED') {
        // Nothing reached a server: retry the same request after a short pause.
        figures.refused++;
        await new Promise((r) => setTimeout(r, 20));
      } else figures.errors.push({ code: outcome.code, startedAt });
      waiters.reached(figures.ok);
    }
  };
  const clients = Array.from({ length: CLIENTS }, client);
  return {
    figures,
    /** okAtLeast resolves once `n` 2xx answers were counted in all; rejects after `timeoutMs`. */
    okAtLeast(n: number, timeoutMs = 60_000): Promise<void> {
      return waiters.atLeast(figures.ok, n, timeoutMs);
    },
    async stop(): Promise<LoadFigures> {
      stopped = true;
      clearTimeout(limit);
      await Promise.all(clients);
      return figures;
    },
  };
}

describe('controller restart under load (file state, no lease)', () => {
  const ups: UpProcess[] = [];
  const groups = new KnownGroups();
  after(async () => {
    for (const up of ups) up.child.kill('SIGKILL');
    // Those still ours: since they were learnt, their pids may have been reused.
    groups.killAll('SIGKILL');
  });

  it('answers every GET 2xx across the restart: no 503 while adopted instances are checked', async () => {
    const balancerPort = await freePort();
    const configPath = await writeFileStateConfig({
      // A generous warm-up: the test asserts that the port opens when the group is up, not at the deadline.
      balancer: { listen: `127.0.0.1:${balancerPort}`, warmup_timeout: '60s' },
      web: { ...DEMO_WEB, min_instances: 3, max_instances: 3 },
    });

    const first = new UpProcess(configPath, { SCALEPLANE_API_KEY: TOKEN });
    ups.push(first);
    recordStarted(first, groups);
    await first.waitFor((l) => String(l.msg).startsWith('group web is up'), 60_000);
    const load = steadyLoad(balancerPort);
    await load.okAtLeast(100);

    first.child.kill('SIGKILL');
    await first.exited;
    const exitedAt = performance.now();
    const okBeforeRestart = load.figures.ok;

    const second = new UpProcess(configPath, { SCALEPLANE_API_KEY: TOKEN });
    ups.push(second);
    recordStarted(second, groups);
    const listening = await second.waitFor((l) => String(l.msg).startsWith('balancer listening'), 60_000);
    for (const l of second.lines) if (String(l.msg).startsWith('adopted web-')) groups.add(Number(l.pid));
    // The restarted balancer serves again: 150 more answers after it opened its port.
    await load.okAtLeast(load.figures.ok + 150);
    const r = await load.stop();

    console.log(
      `restart under load: ${r.ok} × 2xx, ${JSON.stringify(r.statuses)} non-2xx, ${r.refused} refused connects retried, ` +
        `${r.errors.length} reset(s) of requests the killed process held: ${JSON.stringify(r.errors.map((e) => ({ ...e, sinceExit: Math.round(e.startedAt - exitedAt) })))}`,
    );
    const adopted = second.lines.filter((l) => String(l.msg).startsWith('adopted web-')).length;
    assert.equal(adopted, 3, 'the restarted controller adopted the 3 instances');
    assert.equal(
      second.lines.filter((l) => String(l.msg).startsWith('starting web-')).length,
      0,
      'and started none',
    );
    assert.equal(listening.warm, true, 'the port opened because the group was up, not at the deadline');
    const firstAdopted = second.lines.findIndex((l) => String(l.msg).startsWith('adopted web-'));
    assert.ok(
      firstAdopted >= 0 && firstAdopted < second.lines.indexOf(listening),
      'adopted before the port opened',
    );

    assert.deepEqual(r.statuses, {}, `non-2xx answers: ${JSON.stringify(r.statuses)}`);
    const late = r.errors.filter((e) => e.startedAt >= exitedAt);
    assert.deepEqual(
      late,
      [],
      'no error but a refused connect for a request sent after the old process died',
    );
    assert.ok(
      r.errors.every((e) => /^(ECONNRESET|socket hang up)$/.test(e.code)),
      `only resets of requests the killed process held: ${JSON.stringify(r.errors)}`,
    );
    assert.ok(r.ok > okBeforeRestart, 'answers after the restart');
    second.child.kill('SIGINT');
    assert.equal((await second.exited).code, 0);
  });
});

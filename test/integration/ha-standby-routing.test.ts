// Acceptance: a standby's balancer serves. Two real `scaleplane up` on one config with a Redis
// lease; steady GET load on BOTH balancers. The standby routes to the instances the leader
// recorded (every answer 2xx, from the leader's pids); SIGKILL the leader and every answer of the
// survivor stays 2xx through the takeover, which adopts the same pids. A standby follows the
// leader's scale-out within seconds, and on the leader's scale-in it takes each instance out of
// rotation before the leader stops it: 0 non-2xx through the standby.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { processGroupMembers, UpProcess } from '../helpers/cli-process.js';
import { balancerPort, controlApi, countWaiters, logMsg, recordStarted, startedPids } from '../helpers/ha.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';
import { dropRedisState, REDIS_URL } from '../helpers/shared-stores.js';

const TOKEN = 'ha-standby-routing-token';
const TTL_MS = 3000;
const CLIENTS = 3;
/** Every client stops by itself after this, whatever happens (bounded load). */
const LOAD_LIMIT_MS = 120_000;

const { group, scale, untilReady } = controlApi(TOKEN);
const msg = logMsg;

interface Figures {
  ok: number;
  /** Non-2xx answers by status. */
  statuses: Record<number, number>;
  /** Connection errors by code. */
  errors: Record<string, number>;
  /** Instance pid that answered → how many 2xx answers it gave. */
  pids: Map<number, number>;
}

const byNumber = (x: number, y: number) => x - y;

/** servedBy maps the pids that answered to their instances' process groups (the pids the API shows). */
function servedBy(f: Figures): number[] {
  const groups = new Set<number>();
  for (const pid of f.pids.keys()) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      groups.add(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]));
    } catch {
      groups.add(-pid); // gone since: never equal to a live instance
    }
  }
  return [...groups].sort(byNumber);
}

const non2xx = (f: Figures) => Object.values(f.statuses).reduce((a, b) => a + b, 0);
const errorCount = (f: Figures) => Object.values(f.errors).reduce((a, b) => a + b, 0);
const show = (f: Figures) =>
  `${f.ok} × 2xx, ${non2xx(f)} non-2xx ${JSON.stringify(f.statuses)}, ${errorCount(f)} connection errors ${JSON.stringify(f.errors)}`;

/** get sends one GET on a keep-alive agent and reads which instance (pid) answered. */
function get(agent: http.Agent, port: number): Promise<{ status: number; pid?: number } | { code: string }> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => {
        let pid: number | undefined;
        try {
          pid = (JSON.parse(body) as { pid?: number }).pid;
        } catch {}
        resolve({ status: res.statusCode ?? 0, ...(pid !== undefined && { pid }) });
      });
      res.on('error', (err: NodeJS.ErrnoException) => resolve({ code: err.code ?? err.message }));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ code: err.code ?? err.message }));
  });
}

/** steadyLoad runs CLIENTS keep-alive clients against one balancer port until stopped (or LOAD_LIMIT_MS). */
function steadyLoad(port: number) {
  let figures: Figures = { ok: 0, statuses: {}, errors: {}, pids: new Map() };
  const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
  let stopped = false;
  const limit = setTimeout(() => {
    stopped = true;
  }, LOAD_LIMIT_MS);
  const waiters = countWaiters('answers 2xx');
  const client = async () => {
    while (!stopped) {
      const outcome = await get(agent, port);
      if ('code' in outcome) {
        figures.errors[outcome.code] = (figures.errors[outcome.code] ?? 0) + 1;
        // A dead balancer refuses at once: do not spin.
        await new Promise((r) => setTimeout(r, 20));
      } else if (outcome.status >= 200 && outcome.status < 300) {
        figures.ok++;
        if (outcome.pid !== undefined)
          figures.pids.set(outcome.pid, (figures.pids.get(outcome.pid) ?? 0) + 1);
      } else figures.statuses[outcome.status] = (figures.statuses[outcome.status] ?? 0) + 1;
      waiters.reached(figures.ok);
    }
  };
  const clients = Array.from({ length: CLIENTS }, client);
  return {
    get figures() {
      return figures;
    },
    /** phase starts counting afresh and returns what was counted since the last phase. */
    phase(): Figures {
      const done = figures;
      figures = { ok: 0, statuses: {}, errors: {}, pids: new Map() };
      return done;
    },
    /** okAtLeast resolves once `n` 2xx answers were counted in this phase; rejects after `timeoutMs`. */
    okAtLeast(n: number, timeoutMs = 60_000): Promise<void> {
      return waiters.atLeast(figures.ok, n, timeoutMs);
    },
    async stop(): Promise<Figures> {
      stopped = true;
      clearTimeout(limit);
      await Promise.all(clients);
      agent.destroy();
      return figures;
    },
  };
}

describe('a standby balancer serves (two controllers, Redis lease)', () => {
  const ups: UpProcess[] = [];
  const loads: ReturnType<typeof steadyLoad>[] = [];
  const groups = new KnownGroups();
  const name = `ha_standby_${randomBytes(3).toString('hex')}`;
  let configPath = '';

  before(async () => {
    configPath = await writeTempConfig(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 1s } }
controller:
  lease: { backend: redis, url: "${REDIS_URL}", ttl: ${TTL_MS}ms, name: ${name} }
groups:
  web:
    command: node server.js
    cwd: ${DEMO_DIR}
    min_instances: 1
    max_instances: 6
`);
  });

  after(async () => {
    await Promise.all(loads.map((l) => l.stop()));
    for (const up of ups) up.child.kill('SIGKILL');
    await Promise.all(ups.map((up) => up.exited));
    // Recorded as they were logged: killed only while still ours (their pids may be reused since).
    groups.killAll('SIGKILL');
    await dropRedisState(name);
    if (configPath) await rm(dirname(configPath), { recursive: true, force: true });
  });

  function start(): UpProcess {
    const up = new UpProcess(configPath, { SCALEPLANE_API_KEY: TOKEN });
    ups.push(up);
    recordStarted(up, groups);
    return up;
  }

  function load(port: number) {
    const l = steadyLoad(port);
    loads.push(l);
    return l;
  }

  // Set by the first case: the controller that leads after the takeover.
  let leader: UpProcess | undefined;

  it('the standby answers 2xx from the leader’s instances, and keeps answering 2xx through a SIGKILL takeover', async () => {
    const a = start();
    await a.waitFor(msg('group web is up'), 30_000);
    assert.equal((await scale(a, 'set', 3)).status, 200);
    const pids = (await untilReady(a, 3, 30_000)).instances.map((i) => i.pid).sort(byNumber);
    for (const pid of pids) groups.add(pid);

    const b = start();
    await b.waitFor(msg('standing by'), 30_000);
    // Its port opens once it routes to what the leader recorded (3 health checks passed).
    const [portA, portB] = await Promise.all([balancerPort(a), balancerPort(b)]);
    assert.equal(b.lines.filter(msg('standby: routing to web-')).length, 3);
    assert.deepEqual((await group(b)).instances, [], 'the standby still manages no instance');
    const loadA = load(portA);
    const loadB = load(portB);

    await Promise.all([loadA.okAtLeast(300), loadB.okAtLeast(300)]);
    const standbyPhase = loadB.phase();
    const leaderPhase = loadA.phase();
    console.log(
      `[standing by] through the standby: ${show(standbyPhase)}; through the leader: ${show(leaderPhase)}`,
    );
    assert.equal(non2xx(standbyPhase), 0, 'the standby answered no 503');
    assert.equal(errorCount(standbyPhase), 0);
    assert.deepEqual(servedBy(standbyPhase), pids, 'the standby spread requests over the leader’s instances');

    const killedAt = performance.now();
    a.child.kill('SIGKILL');
    await b.waitFor(msg('became leader'), 30_000);
    const leadsMs = Math.round(performance.now() - killedAt);
    const adopted = await untilReady(b, 3, 30_000);
    const readyMs = Math.round(performance.now() - killedAt);
    // Some more load after the adoption: the new leader's own membership serves too.
    await loadB.okAtLeast(loadB.figures.ok + 300);
    const takeover = loadB.phase();
    const dead = loadA.phase();
    console.log(
      `[takeover] lease ttl ${TTL_MS} ms: leader SIGKILLed → survivor leads after ${leadsMs} ms, 3 adopted ready after ${readyMs} ms; ` +
        `through the survivor from the kill to 300 answers after adoption: ${show(takeover)}; through the killed leader: ${show(dead)}`,
    );
    assert.equal(non2xx(takeover), 0, 'no non-2xx from the survivor through the takeover');
    assert.equal(errorCount(takeover), 0, 'no connection error from the survivor');
    assert.deepEqual(adopted.instances.map((i) => i.pid).sort(byNumber), pids, 'the same processes adopted');
    assert.deepEqual(startedPids(b), [], 'the new leader started none');
    assert.deepEqual(servedBy(takeover), pids);
    await loadA.stop();
    leader = b;
  });

  it('a standby follows a scale-out on the leader, and a scale-in through it under load gives 0 non-2xx', async () => {
    const b = leader;
    assert.ok(b, 'needs the leader of the first case');
    const c = start();
    await c.waitFor(msg('standing by'), 30_000);
    const loadC = load(await balancerPort(c));
    const loadB = load(await balancerPort(b));
    await loadC.okAtLeast(100);
    const before = loadC.phase();
    assert.equal(non2xx(before) + errorCount(before), 0, show(before));

    // Scale-out on the leader: the standby routes to the new instance within seconds.
    const outAt = performance.now();
    assert.equal((await scale(b, 'scale-out', 2)).status, 200);
    const five = await untilReady(b, 5, 30_000);
    for (const i of five.instances) groups.add(i.pid);
    const newIds = five.instances.map((i) => i.id).filter((id) => !['web-1', 'web-2', 'web-3'].includes(id));
    for (const id of newIds) await c.waitFor(msg(`standby: routing to ${id} `), 15_000);
    const followedMs = Math.round(performance.now() - outAt);
    await loadC.okAtLeast(300);
    const grown = loadC.phase();
    console.log(
      `[scale-out 3 → 5] leader's 5 ready and standby routing to ${newIds.join(', ')} ${followedMs} ms after the API call; through the standby: ${show(grown)}`,
    );
    assert.equal(non2xx(grown) + errorCount(grown), 0, show(grown));

    // Scale-in on the leader, under load through the standby.
    const inAt = performance.now();
    assert.equal((await scale(b, 'scale-in', 3)).status, 200);
    const two = await untilReady(b, 2, 60_000);
    const stopped = five.instances.filter((i) => !two.instances.some((t) => t.id === i.id));
    assert.equal(stopped.length, 3);
    for (const i of stopped) {
      const out = await c.waitFor(msg(`standby: ${i.id} out of rotation`), 15_000);
      const stopping = await b.waitFor(msg(`${i.id} drained; stopping it`), 15_000);
      assert.equal(out.reason, 'Draining', `${i.id} left the standby because the leader drains it`);
      assert.ok(
        Number(out.time) < Number(stopping.time),
        `${i.id}: out of the standby's rotation (${out.time}) before the leader stopped it (${stopping.time})`,
      );
      assert.deepEqual(processGroupMembers([i.pid], { inTestTree: true }), [], `${i.id} was stopped`);
    }
    const shrunkMs = Math.round(performance.now() - inAt);
    await loadC.okAtLeast(loadC.figures.ok + 300);
    const shrunk = loadC.phase();
    const leaderSide = loadB.phase();
    const lead = stopped.map((i) => {
      const out = c.lines.find(msg(`standby: ${i.id} out of rotation`))!;
      const stopping = b.lines.find(msg(`${i.id} drained; stopping it`))!;
      return `${i.id} ${Number(stopping.time) - Number(out.time)} ms`;
    });
    console.log(
      `[scale-in 5 → 2] done ${shrunkMs} ms after the API call; standby took each out before the leader stopped it by ${lead.join(', ')}; ` +
        `through the standby: ${show(shrunk)}; through the leader: ${show(leaderSide)}`,
    );
    assert.equal(non2xx(shrunk), 0, 'no non-2xx through the standby across the scale-in');
    assert.equal(errorCount(shrunk), 0, 'no connection error through the standby');
    const remaining = two.instances.map((i) => i.pid).sort(byNumber);
    const lastAnswers = await (async () => {
      loadC.phase();
      await loadC.okAtLeast(100);
      return loadC.phase();
    })();
    // Only the two left, none of the three stopped. Not "both of them": under a loaded machine a
    // health check that times out rightly takes one out for a while (seen: 100 answers by one).
    const served = servedBy(lastAnswers);
    assert.ok(served.length > 0, 'the standby serves');
    assert.deepEqual(
      served.filter((pid) => !remaining.includes(pid)),
      [],
      `the standby now routes to the 2 left only (${remaining.join(', ')}), served by ${served.join(', ')}`,
    );
  });
});

// HA takeover mid-roll: two `scaleplane up` share a Redis lease over local instances; the leader
// is SIGKILLed in the middle of a rolling resize. What an operator expects of a Deployment whose
// controller-manager fails over: the standby takes the lease within its bounds (ttl + ttl/3),
// finishes the roll (every instance at the new size, ready never below the group's count once
// the adopted instances passed their check), journals ResizeResumed, leaves no orphaned or
// duplicated instance, and its balancer drops no request throughout.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, describe, it } from 'node:test';
import { detectCgroups, readLimits } from '../../src/providers/index.js';
import { type LogLine, UpProcess, waitUntilGone } from '../helpers/cli-process.js';
import {
  balancerPort,
  controlApi,
  type GroupView,
  logMsg,
  recordStarted,
  startedPids,
} from '../helpers/ha.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { writeTempConfig } from '../helpers/scaleplane.js';
import { dropRedisState, REDIS_URL } from '../helpers/shared-stores.js';
import { APP } from '../providers/local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
const TOKEN = 'ha-takeover-resize-token';
const TTL_MS = 3000;
const MIB = 1024 * 1024;
const { api, group, scale, untilReady } = controlApi(TOKEN);

const memoryLimit = (pid: number) => readLimits(pid, layout!.version).memory;

/** alive says whether a process with this pid still runs. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** load runs 3 keep-alive GET clients on `port` until stopped, counting answers by status and errors by code. */
function load(port: number) {
  const figures = { ok: 0, other: {} as Record<string, number> };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
  let stopped = false;
  // Bounded even when a failed assertion leaves it running.
  const limit = setTimeout(() => {
    stopped = true;
  }, 150_000);
  const one = () =>
    new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(String(res.statusCode)));
        res.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  const client = async () => {
    while (!stopped) {
      const outcome = await one();
      if (outcome.startsWith('2')) figures.ok++;
      else figures.other[outcome] = (figures.other[outcome] ?? 0) + 1;
      // Paced (about 300 requests a second in all), so this process reads the controllers' logs
      // as they come and the test pauses the leader at the step it means to.
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const clients = Array.from({ length: 3 }, client);
  return {
    figures,
    async stop() {
      stopped = true;
      clearTimeout(limit);
      await Promise.all(clients);
      agent.destroy();
      return figures;
    },
  };
}

describe('HA takeover in the middle of a rolling resize (Redis lease)', { skip }, () => {
  const ups: UpProcess[] = [];
  const groups = new KnownGroups();
  const names: string[] = [];
  const dirs: string[] = [];
  after(async () => {
    for (const up of ups) {
      up.child.kill('SIGCONT');
      up.child.kill('SIGKILL');
    }
    await Promise.all(ups.map((up) => up.exited));
    // Recorded as they were logged: the roll stopped some long ago, and their pids may be reused.
    groups.killAll('SIGKILL');
    for (const name of names) await dropRedisState(name);
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  /**
   * twoControllers starts a leader with 3 ready instances (each takes 1.5 s to listen, so a roll of
   * 3 is still going when its first replacement is ready), a standby, and GET load through the
   * standby's balancer; then asks the leader for a resize to 256Mi. The standby starts once the
   * leader holds the lease, while the leader's instances come up: one after the other, the two
   * cost about 3 s of each test's 20.
   */
  async function twoControllers() {
    const name = `ha_roll_${randomBytes(3).toString('hex')}`;
    names.push(name);
    const configPath = await writeTempConfig(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 1s } }
controller:
  lease: { backend: redis, url: "${REDIS_URL}", ttl: ${TTL_MS}ms, name: ${name} }
groups:
  web:
    command: '"${process.execPath}" "${APP}"'
    env: { LISTEN_DELAY_MS: "1500" }
    min_instances: 1
    max_instances: 5
`);
    dirs.push(dirname(configPath));
    const a = new UpProcess(configPath, { SCALEPLANE_API_KEY: TOKEN });
    ups.push(a);
    recordStarted(a, groups);
    await a.waitFor(logMsg('became leader'), 30_000);
    const b = new UpProcess(configPath, { SCALEPLANE_API_KEY: TOKEN });
    ups.push(b);
    recordStarted(b, groups);
    const [before] = await Promise.all([
      (async () => {
        await a.waitFor(logMsg('group web is up'), 60_000);
        assert.equal((await scale(a, 'set', 3)).status, 200);
        return untilReady(a, 3, 60_000);
      })(),
      b.waitFor(logMsg('standing by'), 30_000),
    ]);
    const oldIds = new Set(before.instances.map((i) => i.id));
    const traffic = load(await balancerPort(b));

    const resized = await api(a, '/api/scalability/resize-group', {
      method: 'POST',
      body: JSON.stringify({ group: 'web', memory: '256Mi' }),
    });
    assert.equal(resized.status, 202, await resized.text());
    return { a, b, oldIds, traffic };
  }

  /**
   * finishedBy waits until `b` runs 3 ready instances, all at 256Mi and none of `oldIds`, and
   * returns its last view and the fewest ready instances seen once its group was up.
   */
  async function finishedBy(b: UpProcess, oldIds: Set<string>) {
    let last: GroupView = await group(b);
    let minReady = Number.POSITIVE_INFINITY;
    const done = (v: GroupView) =>
      v.instances.length === 3 &&
      v.instances.every((i) => i.state === 'ready' && memoryLimit(i.pid) === 256 * MIB && !oldIds.has(i.id));
    const deadline = Date.now() + 60_000;
    while (!done(last) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      last = await group(b);
      // Counted once the new leader's group is up (the adopted ones passed their first check).
      if (b.lines.some(logMsg('group web is up')))
        minReady = Math.min(minReady, last.instances.filter((i) => i.state === 'ready').length);
    }
    assert.ok(done(last), `roll not finished by the new leader: ${JSON.stringify(last.instances)}`);
    assert.equal(last.desired, 3);
    const events = (await (await api(b, '/api/scalability/events?group=web')).json()) as {
      events: { reasons: string[]; message: string }[];
    };
    const resumed = events.events.find((e) => e.reasons.includes('ResizeResumed'));
    assert.ok(resumed, `no ResizeResumed: ${JSON.stringify(events.events.map((e) => e.reasons))}`);
    return { last, minReady };
  }

  /** noOrphans checks that of every instance the `pair` started, exactly the ones `last` manages still run. */
  async function noOrphans(last: GroupView, pair: UpProcess[]) {
    const started = pair.flatMap((up) => startedPids(up));
    const managed = new Set(last.instances.map((i) => i.pid));
    const others = started.filter((pid) => !managed.has(pid));
    assert.deepEqual(await waitUntilGone(others, 20_000), [], 'instances running that nobody manages');
    assert.ok([...managed].every(alive), '[...managed].every(alive)');
  }

  it('SIGKILL of the leader mid-roll: the standby takes the lease, finishes the roll, journals it, orphans nothing, drops no request', async (t) => {
    const { a, b, oldIds, traffic } = await twoControllers();
    const replacement = await a.waitFor(
      (l) => /^web-\d+ ready on /.test(String(l.msg)) && !oldIds.has(String(l.instance)),
      60_000,
    );
    a.child.kill('SIGKILL');
    const killedAt = performance.now();
    await a.exited;
    t.diagnostic(`leader killed once ${String(replacement.instance)} was ready`);

    await b.waitFor(logMsg('became leader'), 30_000);
    const ledAfter = performance.now() - killedAt;
    t.diagnostic(`standby led ${Math.round(ledAfter)} ms after the kill`);
    // The bound: the lease's ttl, plus one attempt interval (ttl/3), plus a second of slack.
    assert.ok(
      ledAfter <= TTL_MS + TTL_MS / 3 + 1000,
      `took the lease ${Math.round(ledAfter)} ms after the kill`,
    );

    const { last, minReady } = await finishedBy(b, oldIds);
    const figures = await traffic.stop();
    t.diagnostic(
      `through the standby's balancer: ${figures.ok} x 2xx, other ${JSON.stringify(figures.other)}`,
    );
    assert.ok(minReady >= 3, `ready instances fell to ${minReady} during the resumed roll`);
    await noOrphans(last, [a, b]);
    assert.deepEqual(figures.other, {}, 'requests through the balancer that failed');
    assert.ok(figures.ok > 0, 'figures.ok > 0');
  });

  it("SIGSTOP of the leader mid-roll, SIGCONT after the takeover: the deposed leader stops none of the new leader's instances", async (t) => {
    const { a, b, oldIds, traffic } = await twoControllers();
    // Paused once its first replacement is ready: the roll has just marked the oldest instance
    // draining and waits out the standbys' grace (2 s) before stopping it. The standby takes over
    // and adopts that instance (serving again); on waking, the deposed leader must not stop it.
    const paused = await a.waitFor(
      (l) => /^web-\d+ ready on /.test(String(l.msg)) && !oldIds.has(String(l.instance)),
      60_000,
    );
    a.child.kill('SIGSTOP');
    t.diagnostic(`leader paused at '${String(paused.msg)}'`);
    await b.waitFor(logMsg('became leader'), 30_000);
    await b.waitFor(logMsg('group web is up'), 60_000);
    const adopted = new Set(b.lines.filter(logMsg('adopted web-')).map((l) => String(l.instance)));
    t.diagnostic(`the new leader adopted ${[...adopted].join(' ')}`);
    const since = a.lines.length;
    a.child.kill('SIGCONT');
    const after = (match: (l: LogLine) => boolean) => (l: LogLine) => match(l) && a.lines.indexOf(l) >= since;
    await a.waitFor(after(logMsg('standing by')), 30_000);
    // The drain it paused in ends either way: with the instance stopped, or handed over.
    await a.waitFor(
      after((l) => / drained; stopping it| not stopped: /.test(String(l.msg))),
      30_000,
    );

    const { last, minReady } = await finishedBy(b, oldIds);
    const figures = await traffic.stop();
    t.diagnostic(
      `through the standby's balancer: ${figures.ok} x 2xx, other ${JSON.stringify(figures.other)}`,
    );
    const stoppedByA = a.lines
      .slice(since)
      .filter((l) => /drained; stopping it/.test(String(l.msg)))
      .map((l) => String(l.instance));
    assert.deepEqual(
      stoppedByA.filter((id) => adopted.has(id)),
      [],
      'the deposed leader stopped instances the new leader had adopted',
    );
    assert.ok(minReady >= 3, `ready instances fell to ${minReady} during the resumed roll`);
    await noOrphans(last, [a, b]);
    assert.deepEqual(figures.other, {}, 'requests through the balancer that failed');
  });
});

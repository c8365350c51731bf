// Acceptance (issue 5, point 3): two `scaleplane up` on one config elect one leader through a
// lease (Redis, then PostgreSQL). SIGKILL the leader: the standby takes over, adopts the very same
// instance processes (none duplicated, none orphaned) and a scale decision after that is applied
// once. A leader paused past its lease (SIGSTOP) is fenced when it wakes (SIGCONT): it starts
// nothing and steps down.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { processGroupMembers, UpProcess } from '../helpers/cli-process.js';
import { controlApi, logMsg, recordStarted, startedPids } from '../helpers/ha.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';
import { PG_URL, REDIS_URL, SHARED_STORES } from '../helpers/shared-stores.js';

const TOKEN = 'ha-takeover-token';
const TTL_MS = 3000;

const { api, group, scale, untilReady } = controlApi(TOKEN);
const msg = logMsg;

interface Backend {
  name: string;
  lease: (name: string) => string;
  cleanup: (name: string) => Promise<void>;
}

/** cleanupOf is the shared stores' cleanup of everything a test named `name` left in `backend`. */
function cleanupOf(backend: string): (name: string) => Promise<void> {
  return SHARED_STORES.find((s) => s.name === backend)!.cleanup;
}

// The cleanup is the shared stores' (every table and the sequence): this file's own dropped only
// four of PostgreSQL's six tables and left the write sequence behind, on every run.
const BACKENDS: Backend[] = [
  {
    name: 'redis',
    lease: (name) => `{ backend: redis, url: "${REDIS_URL}", ttl: ${TTL_MS}ms, name: ${name} }`,
    cleanup: cleanupOf('redis'),
  },
  {
    name: 'postgres',
    lease: (name) => `{ backend: postgres, url: "${PG_URL}", ttl: ${TTL_MS}ms, name: ${name} }`,
    cleanup: cleanupOf('postgres'),
  },
];

// The two backends run side by side: each owns its lease name, config and instances, and one after
// the other they made this file take 60 s of waiting on processes. Within a backend the cases run in
// order (each starts from what the one before left).
describe('two controllers on one lease, per backend', { concurrency: BACKENDS.length }, () => {
  for (const backend of BACKENDS) {
    describe(`two controllers, ${backend.name} lease`, { concurrency: 1 }, () => {
      const ups: UpProcess[] = [];
      const groups = new KnownGroups();
      const name = `ha_${backend.name}_${randomBytes(3).toString('hex')}`;
      let configPath = '';

      after(async () => {
        for (const up of ups) {
          up.child.kill('SIGCONT');
          up.child.kill('SIGKILL');
        }
        // Dead before the store is cleaned, so none writes into it afterwards.
        await Promise.all(ups.map((up) => up.exited));
        // With a lease, instances outlive every controller by design: the test removes them (those
        // still ours: recorded as they were logged, since then their pids may be reused).
        groups.killAll('SIGKILL');
        await backend.cleanup(name);
        if (configPath) await rm(dirname(configPath), { recursive: true, force: true });
      });

      before(async () => {
        configPath = await writeTempConfig(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 1s } }
controller:
  lease: ${backend.lease(name)}
groups:
  web:
    command: node server.js
    cwd: ${DEMO_DIR}
    min_instances: 1
    max_instances: 6
`);
      });

      function start(): UpProcess {
        const up = new UpProcess(configPath, { SCALEPLANE_API_KEY: TOKEN });
        ups.push(up);
        recordStarted(up, groups);
        return up;
      }

      it('SIGKILL the leader: the standby takes over, adopts the same processes, applies a decision once', async () => {
        const a = start();
        await a.waitFor(msg('became leader'), 30_000);
        await a.waitFor(msg('group web is up'), 30_000);
        const b = start();
        const standing = await b.waitFor(msg('standing by'), 30_000);
        assert.match(String(standing.msg), /fencing token/);

        // The standby runs the API but changes nothing: 503, and it started no instance.
        const refused = await scale(b, 'set', 2);
        assert.equal(refused.status, 503);
        assert.equal(((await refused.json()) as { code: string }).code, 'SCALEPLANE_NOT_LEADER');
        assert.deepEqual((await group(b)).instances, []);
        assert.match(await (await api(b, '/metrics')).text(), /^scaleplane_leader 0$/m);
        assert.match(await (await api(a, '/metrics')).text(), /^scaleplane_leader 1$/m);

        assert.equal((await scale(a, 'set', 3)).status, 200);
        const before = await untilReady(a, 3, 30_000);
        const pids = before.instances.map((i) => i.pid).sort();
        for (const pid of pids) groups.add(pid);

        const killedAt = performance.now();
        a.child.kill('SIGKILL');
        await b.waitFor(msg('became leader'), 30_000);
        const takeoverMs = Math.round(performance.now() - killedAt);
        const adopted = await untilReady(b, 3, 30_000);
        const readyMs = Math.round(performance.now() - killedAt);
        // Timing is a goal, not an assertion here (shared CPUs); bench/ measures it. Printed for the record.
        console.log(
          `[${backend.name}] lease ttl ${TTL_MS} ms: leader SIGKILLed → standby leads after ${takeoverMs} ms, 3 adopted instances ready after ${readyMs} ms`,
        );

        assert.equal(adopted.desired, 3, 'the desired count was continued, not reset');
        assert.deepEqual(adopted.instances.map((i) => i.pid).sort(), pids, 'adopted, not duplicated');
        assert.deepEqual(startedPids(b), [], 'the new leader started no instance on takeover');
        assert.equal(b.lines.filter(msg('adopted web-')).length, 3);
        // No orphan: every process the dead leader started and that still runs is managed by the new one.
        const alive = startedPids(a).filter(
          (pid) => processGroupMembers([pid], { inTestTree: true }).length > 0,
        );
        assert.deepEqual(alive.sort(), pids, 'every live instance of the old leader is adopted');

        // One decision, applied once: scale-out by 1 makes exactly one new process.
        const out = await scale(b, 'scale-out', 1);
        assert.equal(out.status, 200);
        assert.deepEqual(await out.json(), { group: 'web', previous: 3, desired: 4 });
        const four = await untilReady(b, 4, 30_000);
        const added = four.instances.map((i) => i.pid).filter((pid) => !pids.includes(pid));
        assert.equal(added.length, 1, `one new instance, got ${added}`);
        for (const pid of added) groups.add(pid);
        assert.deepEqual(startedPids(b), added, 'the new leader started exactly that one');

        const events = (await (await api(b, '/api/scalability/events?group=web')).json()) as {
          events: { source: string; reasons: string[]; after: number }[];
        };
        const reasons = events.events.map((e) => e.reasons[0]);
        assert.ok(reasons.includes('BecameLeader'), JSON.stringify(reasons));
        assert.equal(events.events.filter((e) => e.source === 'api' && e.after === 3).length, 1);
        assert.equal(events.events.filter((e) => e.source === 'api' && e.after === 4).length, 1);
        assert.match(await (await api(b, '/metrics')).text(), /^scaleplane_leader 1$/m);
        b.child.kill('SIGKILL');
        await b.exited;
      });

      it('a leader paused past its lease (SIGSTOP) is fenced after SIGCONT: it starts nothing and steps down', async () => {
        const a = start();
        // Up: it leads and has adopted what the previous cases left (changes wait for that: 503).
        await a.waitFor(msg('group web is up'), 30_000);
        // Whatever the first case left (or nothing), the group runs 3 instances.
        assert.equal((await scale(a, 'set', 3)).status, 200);
        const view = await untilReady(a, 3, 30_000);
        const pids = view.instances.map((i) => i.pid).sort();
        for (const pid of pids) groups.add(pid);
        const b = start();
        await b.waitFor(msg('standing by'), 30_000);

        a.child.kill('SIGSTOP');
        await b.waitFor(msg('became leader'), 30_000);
        await untilReady(b, 3, 30_000);
        // While the old leader sleeps, one instance dies: the old leader, its parent, hears of it
        // only on waking; only the new leader may replace it.
        const victim = pids[0]!;
        // Learnt before the pause and takeover: killed only if still the instance it was.
        const killed = groups.kill(victim, 'SIGKILL');
        assert.equal(killed.sent, true, killed.message);
        const replaced = await (async () => {
          const deadline = Date.now() + 30_000;
          for (;;) {
            const v = await group(b);
            const now = v.instances.map((i) => i.pid);
            if (
              !now.includes(victim) &&
              v.instances.length === 3 &&
              v.instances.every((i) => i.state === 'ready')
            )
              return v;
            if (Date.now() > deadline) throw new Error(`not replaced: ${JSON.stringify(v)}`);
            await new Promise((r) => setTimeout(r, 100));
          }
        })();
        for (const i of replaced.instances) groups.add(i.pid);

        const startedBefore = startedPids(a).length;
        const wokeAt = a.lines.length;
        a.child.kill('SIGCONT');
        const lost = await a.waitFor(msg('lost leadership'), 30_000);
        assert.ok(lost, 'lost');
        // Give the woken leader's pending work (its child's exit, its loop) every chance to act.
        await a.waitFor(msg('standing by'), 30_000);
        assert.equal(startedPids(a).length, startedBefore, 'the fenced leader started nothing');
        if (process.env.HA_TEST_DEBUG) console.log(a.lines.slice(wokeAt).map((l) => l.msg));
        const final = await untilReady(b, 3, 30_000);
        assert.deepEqual(
          final.instances.map((i) => i.pid).sort(),
          replaced.instances.map((i) => i.pid).sort(),
          'exactly one replacement, by the new leader',
        );
        assert.match(await (await api(a, '/metrics')).text(), /^scaleplane_leader 0$/m);
        const refused = await scale(a, 'scale-out', 1);
        assert.equal(refused.status, 503);
      });

      it('SIGTERM on the leader hands over: it exits 0, stops no instance, and the standby adopts them', async () => {
        // Whoever leads now (from the cases above, or nobody) gives way to a fresh pair.
        for (const up of ups) {
          up.child.kill('SIGCONT');
          up.child.kill('SIGKILL');
          await up.exited;
        }
        const a = start();
        await a.waitFor(msg('group web is up'), 30_000);
        const b = start();
        await b.waitFor(msg('standing by'), 30_000);
        assert.equal((await scale(a, 'set', 3)).status, 200);
        const pids = (await untilReady(a, 3, 30_000)).instances.map((i) => i.pid).sort();
        for (const pid of pids) groups.add(pid);

        const stoppedAt = performance.now();
        a.child.kill('SIGTERM');
        assert.equal((await a.exited).code, 0);
        assert.ok(a.lines.some(msg('released 3 instance(s) of web')), 'handed over, not stopped');
        assert.deepEqual(
          pids.filter((pid) => processGroupMembers([pid], { inTestTree: true }).length > 0),
          pids,
          'every instance still runs after the leader stopped',
        );
        await b.waitFor(msg('became leader'), 30_000);
        const adopted = await untilReady(b, 3, 30_000);
        console.log(
          `[${backend.name}] leader SIGTERM → standby leads with its 3 adopted instances ready after ${Math.round(performance.now() - stoppedAt)} ms (lease released, no ttl wait)`,
        );
        assert.deepEqual(adopted.instances.map((i) => i.pid).sort(), pids);
        assert.equal(startedPids(b).length, 0, 'the new leader started none');
      });
    });
  }
});

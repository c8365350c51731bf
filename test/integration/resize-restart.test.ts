// A rolling resize cut by SIGKILL of `scaleplane up` is finished by the restarted controller. Before,
// the restart adopted a mix of old- and new-size instances and nothing replaced the old ones,
// although the new size was persisted (new instances got it, the adopted old ones kept theirs).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { detectCgroups, readLimits } from '../../src/providers/index.js';
import { processGroupMembers, UpProcess, waitUntilGone } from '../helpers/cli-process.js';
import { controlApi, logMsg, recordStarted, writeFileStateConfig } from '../helpers/ha.js';
import { KnownGroups } from '../helpers/kill-groups.js';
import { APP } from '../providers/local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
const TOKEN = 'resize-restart-token';
const MIB = 1024 * 1024;
const { api, untilReady } = controlApi(TOKEN);

interface GroupView {
  desired: number;
  instances: { id: string; pid: number; state: string }[];
}

/** memoryLimit is the instance's memory limit as its cgroup files say (undefined: none). */
const memoryLimit = (pid: number) => readLimits(pid, layout!.version).memory;

describe('a rolling resize cut by a controller SIGKILL', { skip }, () => {
  const groups = new KnownGroups();
  const ups: UpProcess[] = [];
  after(async () => {
    for (const up of ups) up.child.kill('SIGKILL');
    // Those still ours: the roll stopped some long ago, and their pids may be reused since.
    groups.killAll('SIGKILL');
  });

  it('is finished after the restart: old-size instances replaced, one at a time, journaled', async (t) => {
    // Each start takes 1.5 s, so the roll of 3 instances is still going when its first
    // replacement is ready, and the kill lands mid-roll.
    const configPath = await writeFileStateConfig({
      web: {
        command: `"${process.execPath}" "${APP}"`,
        env: { LISTEN_DELAY_MS: '1500' },
        min_instances: 1,
        max_instances: 5,
      },
    });
    const dir = dirname(configPath);
    const view = async (up: UpProcess) =>
      (await (await api(up, '/api/scalability/groups/web')).json()) as GroupView;

    const first = new UpProcess(configPath, { SCALEPLANE_API_KEY: TOKEN });
    ups.push(first);
    recordStarted(first, groups);
    await first.waitFor(logMsg('group web is up'), 60_000);
    const scaled = await api(first, '/api/scalability/scale-group', {
      method: 'POST',
      body: JSON.stringify({ group: 'web', action: 'set', instances: 3 }),
    });
    assert.equal(scaled.status, 200);
    const before = await untilReady(first, 3, 60_000);
    const oldIds = new Set(before.instances.map((i) => i.id));
    for (const i of before.instances) groups.add(i.pid);

    const resized = await api(first, '/api/scalability/resize-group', {
      method: 'POST',
      body: JSON.stringify({ group: 'web', memory: '256Mi' }),
    });
    assert.equal(resized.status, 202, await resized.text());
    // The first replacement is ready: an outdated instance is being drained, two more are due.
    const replacement = await first.waitFor(
      (l) => /^web-\d+ ready on /.test(String(l.msg)) && !oldIds.has(String(l.instance)),
      60_000,
    );
    first.child.kill('SIGKILL');
    await first.exited;
    t.diagnostic(`killed after ${String(replacement.instance)} was ready`);

    // What the killed controller left: the new size saved, its instances a mix of both sizes.
    const saved = JSON.parse(await readFile(join(dir, '.scaleplane-state.json'), 'utf8')) as {
      sizes?: Record<string, { size: { memory?: number } }>;
      instances: Record<string, Record<string, { pid: number; size?: { memory?: number } }>>;
    };
    const records = Object.entries(saved.instances.web ?? {});
    const mixed = records.map(([id, r]) => `${id}:${(r.size?.memory ?? 0) / MIB}Mi`).join(' ');
    t.diagnostic(`left by the killed controller: ${mixed}`);
    assert.equal(saved.sizes?.web?.size.memory, 256 * MIB, 'the new size was persisted');
    assert.ok(
      records.some(([, r]) => r.size?.memory === 256 * MIB) &&
        records.some(([, r]) => r.size?.memory !== 256 * MIB),
      `the kill did not cut the roll: ${mixed}`,
    );

    const second = new UpProcess(configPath, { SCALEPLANE_API_KEY: TOKEN });
    ups.push(second);
    recordStarted(second, groups);
    await second.waitFor(logMsg('group web is up'), 60_000);
    let last = await view(second);

    // Finished: 3 instances, all ready, all at the new size, none of the old ones left.
    let minReady = Number.POSITIVE_INFINITY;
    const deadline = Date.now() + 60_000;
    const done = (v: GroupView) =>
      v.instances.length === 3 &&
      v.instances.every((i) => i.state === 'ready' && memoryLimit(i.pid) === 256 * MIB && !oldIds.has(i.id));
    while (!done(last) && Date.now() < deadline) {
      last = await view(second);
      const ready = last.instances.filter((i) => i.state === 'ready').length;
      // Counted once the adopted instances passed their health check (they start as 'starting').
      if (second.lines.some(logMsg('balancer listening'))) minReady = Math.min(minReady, ready);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(
      done(last),
      `not finished after the restart (left ${mixed}): ${JSON.stringify(last.instances)}`,
    );
    assert.equal(last.desired, 3);
    assert.ok(minReady >= 3, `ready instances fell to ${minReady} during the resumed roll`);
    const events = (await (await api(second, '/api/scalability/events?group=web')).json()) as {
      events: { reasons: string[]; message: string }[];
    };
    const resumed = events.events.find((e) => e.reasons.includes('ResizeResumed'));
    assert.ok(resumed, JSON.stringify(events.events.map((e) => e.reasons)));
    assert.match(resumed.message, /memory=256Mi/, resumed.message);

    const pids = groups.pids();
    second.child.kill('SIGINT');
    assert.equal((await second.exited).code, 0);
    assert.deepEqual(await waitUntilGone(pids, 20_000), [], 'no instance left after a clean stop');
    assert.deepEqual(
      processGroupMembers(pids, { inTestTree: true }),
      [],
      "no process of the instances' groups is left",
    );
  });
});

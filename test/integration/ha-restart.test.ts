// Acceptance (issue 5, point 4): a controller restarted after SIGKILL adopts the instances it left
// running — same pids, same count, nothing started twice, nothing left behind — with the embedded
// file state store and no lease.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { processGroupMembers, waitUntilGone } from '../helpers/cli-process.js';
import { controlApi, upControllers, writeFileStateConfig } from '../helpers/ha.js';

const TOKEN = 'ha-restart-token';

const { api, untilReady } = controlApi(TOKEN);

describe('controller restart after SIGKILL (file state, no lease)', () => {
  const { groups, start } = upControllers(TOKEN);

  it('adopts the running instances: same pids, same count, none started, none orphaned', async () => {
    const configPath = await writeFileStateConfig();
    const dir = dirname(configPath);

    const first = start(configPath);
    await first.waitFor((l) => String(l.msg).startsWith('group web is up'), 30_000);
    // A decision to persist: scale to 3 by hand.
    const scaled = await api(first, '/api/scalability/scale-group', {
      method: 'POST',
      body: JSON.stringify({ group: 'web', action: 'set', instances: 3 }),
    });
    assert.equal(scaled.status, 200);
    const before = await untilReady(first, 3, 30_000);
    const pids = before.instances.map((i) => i.pid).sort();
    for (const pid of pids) groups.add(pid);

    first.child.kill('SIGKILL');
    await first.exited;
    // The instances outlive the controller on purpose: they are recorded for the next one.
    assert.deepEqual(
      pids.filter((pid) => processGroupMembers([pid]).length > 0),
      pids,
      'every instance still runs after the controller was killed',
    );
    const saved = JSON.parse(await readFile(join(dir, '.scaleplane-state.json'), 'utf8')) as {
      desired: Record<string, number>;
      instances: Record<string, Record<string, { pid: number }>>;
    };
    assert.equal(saved.desired.web, 3, 'the desired count was persisted');
    assert.deepEqual(
      Object.values(saved.instances.web ?? {})
        .map((r) => r.pid)
        .sort(),
      pids,
    );

    const second = start(configPath);
    await second.waitFor((l) => String(l.msg).startsWith('group web is up'), 30_000);
    const afterRestart = await untilReady(second, 3, 30_000);
    assert.equal(afterRestart.desired, 3, 'desired count restored');
    assert.deepEqual(
      afterRestart.instances.map((i) => i.pid).sort(),
      pids,
      'the same processes: adopted, not duplicated',
    );
    assert.equal(
      second.lines.filter((l) => String(l.msg).startsWith('starting web-')).length,
      0,
      'the restarted controller started no instance',
    );
    assert.equal(second.lines.filter((l) => String(l.msg).startsWith('adopted web-')).length, 3);
    // The journal survived too: the manual scale of the first controller is listed.
    const events = (await (await api(second, '/api/scalability/events?group=web')).json()) as {
      events: { source: string; after: number; reasons: string[] }[];
    };
    assert.ok(
      events.events.some((e) => e.source === 'api' && e.after === 3),
      JSON.stringify(events.events.map((e) => [e.source, e.reasons])),
    );

    // A clean stop of the restarted controller stops the adopted instances too: no orphans.
    second.child.kill('SIGINT');
    assert.equal((await second.exited).code, 0);
    assert.deepEqual(await waitUntilGone(pids, 15_000), [], 'no instance left after a clean stop');
  });
});

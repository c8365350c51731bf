// Two `scaleplane up` on one state file without a lease: the second is refused before it reads,
// writes or adopts anything, and a lock left by a killed controller is taken over on restart.
// Before the lock, a second controller on the file (ports that did not collide: here port 0, as
// with two configs in one folder) adopted the first's instances, wrote its own journal entries into
// the file, and its clean stop SIGTERMed them: the first counted two crashes and replaced both.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { processGroupMembers, waitUntilGone } from '../helpers/cli-process.js';
import { controlApi, logMsg, upControllers, writeFileStateConfig } from '../helpers/ha.js';

const TOKEN = 'state-file-lock-token';

const { untilReady, scale } = controlApi(TOKEN);

interface SavedState {
  desired: Record<string, number>;
  journal: { reasons: string[] }[];
  instances: Record<string, Record<string, { pid: number }>>;
}

describe('state file lock (file state, no lease)', () => {
  const { start } = upControllers(TOKEN);

  it('refuses a second controller on the same state file, naming the file and pid; takes over a stale lock', async () => {
    // Ports 0: nothing collides, so only the state file is shared (the same config run twice).
    const configPath = await writeFileStateConfig();
    const statePath = join(dirname(configPath), '.scaleplane-state.json');
    const lockPath = `${statePath}.lock`;
    const readState = async () => JSON.parse(await readFile(statePath, 'utf8')) as SavedState;

    const first = start(configPath);
    await first.waitFor(logMsg('group web is up'), 30_000);
    assert.equal((await scale(first, 'set', 2)).status, 200, 'the first controller scales to 2');
    const pids = (await untilReady(first, 2, 30_000)).instances.map((i) => i.pid).sort();
    const before = await readState();

    const second = start(configPath, { captureStderr: true });
    // Without the lock the second comes up (adopting the first's instances) and never exits.
    const outcome = await Promise.race([
      second.exited.then(() => 'exited'),
      second.waitFor(logMsg('group web is up'), 60_000).then(
        () => 'up',
        () => 'exited',
      ),
    ]);
    assert.equal(outcome, 'exited', 'the second controller is refused, not up');
    assert.equal((await second.exited).code, 1, 'refused with exit code 1');
    await second.stderrEnded;
    assert.match(
      second.stderr,
      new RegExp(
        `state file ${statePath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another Scaleplane, pid ${first.child.pid}\\b`,
      ),
      `the refusal names the file and the pid holding it: ${second.stderr}`,
    );
    assert.deepEqual(
      second.lines.filter((l) => /^(adopted|starting) web-/.test(String(l.msg))).map((l) => l.msg),
      [],
      'the second adopted and started nothing',
    );

    // The first's instances are untouched: same pids, all ready, none stopped, crashed or replaced.
    const view = await untilReady(first, 2, 10_000);
    assert.deepEqual(view.instances.map((i) => i.pid).sort(), pids, 'the same two instances serve');
    assert.deepEqual(processGroupMembers(pids).sort(), pids, 'both instance processes still run');
    assert.deepEqual(
      first.lines.filter((l) => /^(starting web-|instance web-)/.test(String(l.msg))).length,
      2,
      'the first started its two instances and saw none fail',
    );
    const afterRefusal = await readState();
    assert.deepEqual(afterRefusal.desired, before.desired, 'desired counts as the first wrote them');
    assert.deepEqual(afterRefusal.instances, before.instances, 'instance records as the first wrote them');
    assert.ok(
      !afterRefusal.journal.some((e) => e.reasons.includes('Restored')),
      `no journal entry of a second start: ${JSON.stringify(afterRefusal.journal.map((e) => e.reasons))}`,
    );
    assert.equal(
      (JSON.parse(await readFile(lockPath, 'utf8')) as { pid: number }).pid,
      first.child.pid,
      'the lock still names the first controller',
    );

    // Killed, the first leaves its lock behind: the next controller takes it over and adopts.
    first.child.kill('SIGKILL');
    await first.exited;
    assert.ok(existsSync(lockPath), 'a SIGKILLed controller leaves its lock file');
    const third = start(configPath);
    await third.waitFor(logMsg('group web is up'), 30_000);
    assert.ok(
      third.lines.some((l) =>
        String(l.msg).includes(`took over the lock of pid ${first.child.pid}, which is gone`),
      ),
      'the restart says it took over the stale lock',
    );
    const adopted = await untilReady(third, 2, 30_000);
    assert.deepEqual(adopted.instances.map((i) => i.pid).sort(), pids, 'the restart adopted the same two');
    assert.equal(
      (JSON.parse(await readFile(lockPath, 'utf8')) as { pid: number }).pid,
      third.child.pid,
      'the lock names the restarted controller',
    );

    // A clean stop releases the lock (and stops the instances, as without HA).
    third.child.kill('SIGINT');
    assert.equal((await third.exited).code, 0, 'the restarted controller stops cleanly');
    assert.ok(!existsSync(lockPath), 'a clean stop removes the lock file');
    assert.deepEqual(await waitUntilGone(pids, 15_000), [], 'no instance left after a clean stop');
  });
});

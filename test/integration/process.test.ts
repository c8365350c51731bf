// Acceptance: `scaleplane up` as users run it — a separate process whose instances never outlive
// it, whether it is stopped with Ctrl-C (clean drain) or killed with SIGKILL (reaper).
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { processGroupMembers, UpProcess, waitUntilGone } from '../helpers/cli-process.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';

const TOKEN = 'process-test-token';

function config(): string {
  return `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 1s } }
groups:
  web:
    command: node server.js
    cwd: ${DEMO_DIR}
    min_instances: 3
    max_instances: 4
`;
}

async function startUp(t: TestContext): Promise<{ up: UpProcess; pgids: number[]; balancer: string }> {
  const up = new UpProcess(await writeTempConfig(config()), { SCALEPLANE_API_KEY: TOKEN });
  // A failed assertion must not leave `scaleplane up` running: its stdout pipe would hold this file
  // open until the runner's timeout. SIGKILL: its reaper then stops the instances.
  t.after(async () => {
    if (up.child.exitCode !== null || up.child.signalCode !== null) return;
    up.child.kill('SIGKILL');
    await up.exited;
  });
  const apiLine = await up.waitFor((l) => String(l.msg).startsWith('control API on'), 20_000);
  const balancerLine = await up.waitFor((l) => String(l.msg).startsWith('balancer listening'), 30_000);
  await up.waitFor((l) => String(l.msg).startsWith('group web is up'), 30_000);
  const api = apiLine.address as { host: string; port: number };
  const res = await fetch(`http://${api.host}:${api.port}/api/scalability/groups/web`, {
    headers: { authorization: `Bearer ${TOKEN}` },
  });
  const status = (await res.json()) as { instances: { pid: number; state: string }[] };
  assert.equal(status.instances.length, 3);
  const b = balancerLine.address as { host: string; port: number };
  return { up, pgids: status.instances.map((i) => i.pid), balancer: `http://${b.host}:${b.port}` };
}

describe('scaleplane up as a process', () => {
  it('leaves no instance behind when killed with SIGKILL', async (t) => {
    const { up, pgids, balancer } = await startUp(t);
    assert.equal((await fetch(balancer)).status, 200);
    // Each instance is `sh -c` plus node: count every process of every group.
    const members = processGroupMembers(pgids);
    assert.ok(members.length >= 3, `instance processes: ${members}`);

    up.child.kill('SIGKILL');
    await up.exited;
    const left = await waitUntilGone(pgids, 10_000);
    assert.deepEqual(left, [], `still running after SIGKILL: ${left}`);
  });

  it('stops every instance cleanly on Ctrl-C (SIGINT) and exits 0', async (t) => {
    const { up, pgids } = await startUp(t);
    up.child.kill('SIGINT');
    const { code } = await up.exited;
    assert.equal(code, 0);
    // Clean shutdown waits for the instances itself: nothing is left at the moment it exits.
    assert.deepEqual(processGroupMembers(pgids), []);
    assert.ok(
      up.lines.some((l) => String(l.msg).startsWith('SIGINT: draining')),
      "up.lines.some((l) => String(l.msg).startsWith('SIGINT: draining'))",
    );
  });
});

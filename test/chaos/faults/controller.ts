// Scaleplane itself killed: `scaleplane up` (controller, balancer and API in one process) gets
// SIGKILL under load and is started again with the same config; the file state store lets the new
// one adopt the instances the old one left running.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processGroupMembers } from '../../helpers/cli-process.js';
import { KnownGroups } from '../../helpers/kill-groups.js';
import {
  type ChaosRow,
  chaosConfig,
  check,
  describeFailures,
  failuresOf,
  freePort,
  SIZE,
  steadyLoad,
  until,
} from '../harness.js';
import { ControlApi, UpChild } from '../up-child.js';

/** CONNECTION_ERRORS are what a client sees while no process listens on the balancer's port. */
const CONNECTION_ERRORS = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'socket hang up']);

/**
 * warmUpMs reads, from the restarted process's log, how long its balancer kept the port closed
 * after adopting the instances (until they passed their health check): the price of no 503.
 */
async function warmUpMs(logPath: string, since: number): Promise<number | undefined> {
  const lines = (await readFile(logPath, 'utf8'))
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { time: number; msg: string }];
      } catch {
        return [];
      }
    })
    .filter((l) => l.time >= since);
  const adopted = lines.find((l) => l.msg.startsWith('adopted web-'))?.time;
  const listening = lines.find((l) => l.msg.startsWith('balancer listening'))?.time;
  return adopted === undefined || listening === undefined ? undefined : listening - adopted;
}

/** RESTART_SETTLE_MS is how long the restarted controller is watched for a change of count. */
const RESTART_SETTLE_MS = 5000;

/**
 * controllerRestart: SIGKILL of `scaleplane up` (3 instances, set by hand) under load, then the same
 * command again.
 * Bounds: the restart never changes the instance count by itself — the same 3 processes (pids) are
 * adopted, none started, desired still 3 for 5 s after; not one failure once the restarted process
 * serves again; before that, only connection errors (no process listens: the balancer lives in
 * the controller's process, and the restarted one opens its port only once its adopted instances
 * passed their health check — the row prints how long that took), never a 503, 502 or 504.
 */
export async function controllerRestart(): Promise<ChaosRow> {
  const dir = await mkdtemp(join(tmpdir(), 'chaos-controller-'));
  const [apiPort, balancerPort] = [await freePort(), await freePort()];
  const configPath = join(dir, 'scaleplane.yaml');
  const yaml = chaosConfig(
    { min: 1, max: 4 },
    { api: `127.0.0.1:${apiPort}`, balancer: `127.0.0.1:${balancerPort}` },
  ).replace('controller: { interval: 500ms }', 'controller: { interval: 500ms, state: { backend: file } }');
  await writeFile(configPath, yaml);
  const logPath = join(dir, 'scaleplane.log');
  const api = new ControlApi(apiPort);
  const ups: UpChild[] = [];
  let pids: number[] = [];
  const groups = new KnownGroups();
  try {
    const first = new UpChild(configPath, logPath);
    ups.push(first);
    await api.settled('web', 1, 60_000);
    if ((await api.set('web', 3)) !== 200) throw new Error('could not scale to 3');
    await api.settled('web', 3, 60_000);
    pids = ((await api.group('web'))?.instances ?? []).map((i) => i.pid!).sort();
    for (const pid of pids) groups.add(pid);
    const load = steadyLoad(`http://127.0.0.1:${balancerPort}/`);
    await load.reached(SIZE.before);

    const killedAt = performance.now();
    const killedAtEpoch = Date.now();
    first.child.kill('SIGKILL');
    await first.exited;
    const survived = pids.filter((pid) => processGroupMembers([pid]).length > 0);
    const second = new UpChild(configPath, logPath);
    ups.push(second);
    await api.settled('web', 3, 60_000);
    // Back when the balancer answers again (the group is ready: adopted instances are).
    await until(
      async () => (await fetch(`http://127.0.0.1:${balancerPort}/`).catch(() => undefined))?.ok === true,
      60_000,
      'the restarted balancer answers',
    );
    const recoveryMs = performance.now() - killedAt;
    const failedBeforeServing = failuresOf(load.result);
    const watched = Date.now();
    let lowest = 3;
    let highest = 3;
    while (Date.now() - watched < RESTART_SETTLE_MS) {
      const g = await api.group('web');
      if (g) {
        lowest = Math.min(lowest, g.desired, g.instances.length);
        highest = Math.max(highest, g.desired, g.instances.length);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const after = ((await api.group('web'))?.instances ?? []).map((i) => i.pid!).sort();
    await load.reached(SIZE.after);
    const r = await load.stop();
    const failedAfterServing = failuresOf(r) - failedBeforeServing;
    const statuses = Object.keys(r.statuses).map(Number);
    const onlyGapFailures =
      statuses.every((s) => s >= 200 && s < 300) &&
      Object.keys(r.errorCodes).every((code) => CONNECTION_ERRORS.has(code));
    const warmUp = await warmUpMs(logPath, killedAtEpoch);
    return {
      fault: 'controller SIGKILL + restart',
      requests: r.ok + r.non2xx + r.errors,
      failures: failuresOf(r),
      recoveryMs,
      recoveredWhen: 'restarted process serves again, same 3 instances ready',
      checks: [
        check(
          'instances outlive the kill',
          survived.length === pids.length,
          `${survived.length}/${pids.length}`,
        ),
        check(
          'restart keeps the count: same 3 pids adopted',
          JSON.stringify(after) === JSON.stringify(pids),
          `${pids.join(',')} → ${after.join(',')}`,
        ),
        check(
          `count stays 3 for ${RESTART_SETTLE_MS / 1000} s after`,
          lowest === 3 && highest === 3,
          `${lowest}..${highest}`,
        ),
        check('before serving again: connection errors only, no 503', onlyGapFailures, describeFailures(r)),
        check('zero failures once serving again', failedAfterServing === 0, `${failedAfterServing}`),
      ],
      note:
        `failures (${describeFailures(r)}) all in the ${(recoveryMs / 1000).toFixed(1)} s gap; ` +
        `restarted balancer opened its port ${warmUp ?? '?'} ms after adopting (health checks passed)`,
    };
  } finally {
    for (const up of ups) if (up.alive) await up.stop();
    // A clean stop of the adopter stops the instances; anything left (and still ours: their pids
    // may have been reused since the stop) is killed here.
    groups.killAll('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  }
}

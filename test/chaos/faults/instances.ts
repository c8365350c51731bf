// Faults of one instance under steady GET load: killed, hung, slow.
import type { Scaleplane } from '../../../src/app.js';
import { settled } from '../../helpers/scaleplane.js';
import {
  baseUrl,
  type ChaosRow,
  check,
  describeFailures,
  failuresOf,
  HEALTH_INTERVAL_MS,
  instanceUrl,
  REQUEST_TIMEOUT_MS,
  SIZE,
  startApp,
  steadyLoad,
  until,
} from '../harness.js';

const GROUP = 'web';

function backendOf(app: Scaleplane, id: string) {
  return app.balancer.stats(GROUP).backends.find((b) => b.id === id);
}

/**
 * instanceKilled: SIGKILL of one of three instances.
 * Bounds: zero failed GETs (idempotent, retried on another instance); a replacement brings the
 * group back to 3 ready.
 */
export async function instanceKilled(): Promise<ChaosRow> {
  const app = await startApp({ min: 3, max: 3 });
  try {
    await settled(app, GROUP, 3, 60_000);
    const load = steadyLoad(`${baseUrl(app)}/`);
    await load.reached(SIZE.before);
    const victim = app.providers.get(GROUP)!.instances()[0]!;
    const killedAt = performance.now();
    process.kill(-victim.pid!, 'SIGKILL');
    const outAfter = await until(
      () => {
        const b = backendOf(app, victim.id);
        return b === undefined || b.ejected || !b.healthy;
      },
      30_000,
      'killed instance out of rotation',
      5,
    );
    await load.reached(SIZE.during);
    await until(
      () => {
        const instances = app.providers.get(GROUP)!.instances();
        return (
          instances.length === 3 &&
          instances.every((i) => i.state === 'ready' && i.id !== victim.id) &&
          instances.every((i) => backendOf(app, i.id)?.healthy === true)
        );
      },
      60_000,
      'group back at 3 ready instances',
    );
    const recoveryMs = performance.now() - killedAt;
    await load.reached(SIZE.after);
    const r = await load.stop();
    return {
      fault: 'instance SIGKILL',
      requests: r.ok + r.non2xx + r.errors,
      failures: failuresOf(r),
      recoveryMs,
      recoveredWhen: 'a replacement is ready and healthy (3 of 3)',
      checks: [
        check('zero failed GETs', failuresOf(r) === 0, describeFailures(r)),
        check('replaced: 3 ready', true),
      ],
      note: `out of rotation after ${outAfter.toFixed(0)} ms`,
    };
  } finally {
    await app.close();
  }
}

/**
 * instanceHung: SIGSTOP of one of three instances (accepts connections, never answers), SIGCONT
 * after the load phase.
 * Bounds: ejected by the active health check within 6 s (2 failed checks × (1 s interval + 1 s
 * timeout) = 4 s, plus 2 s for a loaded machine); at most one failure (a 504 after
 * request_timeout, 8 s) per client, since the instance is ejected before a client's stuck request
 * times out; back in rotation after SIGCONT.
 */
export async function instanceHung(): Promise<ChaosRow> {
  const app = await startApp({ min: 3, max: 3 });
  let stopped: number | undefined;
  try {
    await settled(app, GROUP, 3, 60_000);
    const load = steadyLoad(`${baseUrl(app)}/`);
    await load.reached(SIZE.before);
    const victim = app.providers.get(GROUP)!.instances()[0]!;
    stopped = victim.pid!;
    process.kill(-stopped, 'SIGSTOP');
    const ejectedAfter = await until(
      () => {
        const b = backendOf(app, victim.id);
        return b === undefined || b.ejected || !b.healthy;
      },
      30_000,
      'hung instance ejected',
      5,
    );
    await load.reached(SIZE.during);
    // Let the requests stuck on it run into their timeout so they are counted.
    await new Promise((r) => setTimeout(r, REQUEST_TIMEOUT_MS + 500));
    process.kill(-stopped, 'SIGCONT');
    stopped = undefined;
    const recoveryMs = await until(
      () => {
        const b = backendOf(app, victim.id);
        return b?.healthy === true && !b.ejected;
      },
      30_000,
      'resumed instance back in rotation',
    );
    await load.reached(SIZE.after);
    const r = await load.stop();
    const failures = failuresOf(r);
    const ejectBound = 6 * HEALTH_INTERVAL_MS;
    return {
      fault: 'instance hang (SIGSTOP)',
      requests: r.ok + r.non2xx + r.errors,
      failures,
      recoveryMs,
      recoveredWhen: 'healthy in rotation again after SIGCONT',
      checks: [
        check(`ejected ≤ ${ejectBound} ms`, ejectedAfter <= ejectBound, `${ejectedAfter.toFixed(0)} ms`),
        check(
          `failures ≤ ${SIZE.concurrency} (one stuck request per client), only 504`,
          failures <= SIZE.concurrency && failures === (r.statuses[504] ?? 0),
          describeFailures(r),
        ),
      ],
      note: `ejected after ${ejectedAfter.toFixed(0)} ms; failures: ${describeFailures(r)}`,
    };
  } finally {
    if (stopped !== undefined) process.kill(-stopped, 'SIGCONT');
    await app.close();
  }
}

async function served(address: string): Promise<number> {
  const res = await fetch(`${instanceUrl(address)}/chaos/stats`);
  return ((await res.json()) as { served: number }).served;
}

async function setDelay(address: string, ms: number): Promise<void> {
  const res = await fetch(`${instanceUrl(address)}/chaos/delay?ms=${ms}`);
  if (!res.ok) throw new Error(`delay knob answered ${res.status}`);
}

/** SLOW_MS is the latency added to the slow instance. */
const SLOW_MS = 300;

/**
 * instanceSlow: one of three instances answers every request 300 ms late.
 * Bounds: zero failures; least-connections sends the slow instance under half its fair share
 * (1/3) of the requests while it is slow.
 */
export async function instanceSlow(): Promise<ChaosRow> {
  const app = await startApp({ min: 3, max: 3 });
  let slow: string | undefined;
  try {
    await settled(app, GROUP, 3, 60_000);
    const instances = app.providers.get(GROUP)!.instances();
    const load = steadyLoad(`${baseUrl(app)}/`);
    await load.reached(SIZE.before);
    const victim = instances[0]!;
    const before = await Promise.all(instances.map((i) => served(i.address)));
    slow = victim.address;
    await setDelay(slow, SLOW_MS);
    await load.reached(SIZE.during);
    const after = await Promise.all(instances.map((i) => served(i.address)));
    await setDelay(slow, 0);
    slow = undefined;
    await load.reached(SIZE.after);
    const r = await load.stop();
    const counts = after.map((n, i) => n - before[i]!);
    const total = counts.reduce((a, b) => a + b, 0);
    const share = counts[0]! / total;
    return {
      fault: `slow instance (+${SLOW_MS} ms)`,
      requests: r.ok + r.non2xx + r.errors,
      failures: failuresOf(r),
      recoveryMs: undefined,
      recoveredWhen: 'n/a (never out of service)',
      checks: [
        check('zero failures', failuresOf(r) === 0, describeFailures(r)),
        check('slow share < 1/6 while slow', share < 1 / 6, `${(share * 100).toFixed(1)} %`),
      ],
      note: `slow instance got ${counts[0]} of ${total} requests (${(share * 100).toFixed(1)} %) while slow`,
    };
  } finally {
    if (slow !== undefined) await setDelay(slow, 0).catch(() => {});
    await app.close();
  }
}

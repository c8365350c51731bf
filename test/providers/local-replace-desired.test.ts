// replace (an instance failing its health checks) stops its victim only once the group serves its
// desired count without it, as a Deployment with maxUnavailable 0 does, whatever a scale or a
// resize did meanwhile. Before, any new instance ready was taken for the successor (one a scale-out
// started let the victim go while the successor still started: 2 ready of 3 desired), and a resize
// that ended meanwhile ended the replacement's surge too, so the next reconcile stopped the victim
// with its successor still starting (1 ready of 2).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { detectCgroups, type LocalProvider } from '../../src/providers/index.js';
import { freePort } from '../helpers/ports.js';
import { httpGet, makeProvider, until } from './local-helpers.js';

/**
 * gatedPorts finds ports as usual, except that after `hold()` the next lookup (the next instance to
 * start) waits until `open()`: the test decides when the replacement's successor may start.
 */
function gatedPorts() {
  let gate: Promise<void> | undefined;
  let open = () => {};
  return {
    find: async () => {
      const waiting = gate;
      gate = undefined;
      await waiting;
      return freePort();
    },
    hold() {
      gate = new Promise((resolve) => {
        open = resolve;
      });
    },
    open: () => open(),
  };
}

/** watchVictim records how many others were ready, and the desired count, when `id` began to drain. */
function watchVictim(provider: LocalProvider, id: string): { seen?: string; short: boolean } {
  const at: { seen?: string; short: boolean } = { short: false };
  provider.on('change', () => {
    if (at.seen !== undefined) return;
    const list = provider.instances();
    if (list.find((i) => i.id === id)?.state !== 'draining') return;
    const ready = list.filter((i) => i.state === 'ready').length;
    at.seen = `${id} drained with ${ready} other(s) ready of ${provider.desired()} desired (${list.map((i) => `${i.id}:${i.state}`).join(', ')})`;
    at.short = ready < provider.desired();
  });
  return at;
}

const readyIds = (provider: LocalProvider) =>
  provider
    .instances()
    .filter((i) => i.state === 'ready')
    .map((i) => i.id);

describe('local replace keeps the desired count ready', () => {
  it('a scale-out meanwhile: the victim waits for its successor, not for the scale-out’s instance', async (t) => {
    const ports = gatedPorts();
    const provider = makeProvider(t, {}, { freePort: ports.find });
    await provider.scaleTo(2);
    const [victim, other] = provider.instances();
    const drain = watchVictim(provider, victim!.id);
    ports.hold();
    const replaced = provider.replace(victim!.id);
    const scaled = provider.scaleTo(3);
    // The scale-out's instance is ready; the successor is still waiting for its port.
    await until(provider, () => readyIds(provider).length === 3);
    // Whatever that readiness set off has run (a reconcile, a drain's first step).
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(drain.seen, undefined, `the victim went before its successor started: ${drain.seen}`);
    ports.open();
    const result = await replaced;
    await scaled;
    assert.ok(drain.seen, 'the victim was drained');
    assert.equal(drain.short, false, drain.seen);
    const ready = readyIds(provider);
    assert.equal(ready.length, 3, `ready after the replacement: ${ready.join(', ')}`);
    assert.ok(!ready.includes(victim!.id), `${victim!.id} still runs: ${ready.join(', ')}`);
    assert.ok(ready.includes(other!.id), `${other!.id} was touched: ${ready.join(', ')}`);
    assert.match(result.detail, /desired count without/);
  });

  it('a scale-in meanwhile takes the victim first; its successor is not kept', async (t) => {
    const ports = gatedPorts();
    const provider = makeProvider(t, {}, { freePort: ports.find });
    await provider.scaleTo(3);
    const [victim, ...others] = provider.instances();
    ports.hold();
    const replaced = provider.replace(victim!.id);
    const scaled = provider.scaleTo(2);
    const result = await replaced;
    // Its successor, still waiting for a port, was stopped: it never starts.
    ports.open();
    await scaled;
    assert.deepEqual(
      readyIds(provider),
      others.map((i) => i.id),
      'the scale-in took the victim, not a healthy instance, and the successor was not started',
    );
    assert.match(result.detail, /went away before its successor was needed/);
  });

  const layout = detectCgroups();
  const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
  it('a resize meanwhile waits for the replacement: the victim stays until its successor is ready', {
    skip,
  }, async (t) => {
    const ports = gatedPorts();
    const provider = makeProvider(t, {}, { freePort: ports.find, size: { cpu: 1 } });
    await provider.scaleTo(2);
    const [victim] = provider.instances();
    const drain = watchVictim(provider, victim!.id);
    ports.hold();
    const replaced = provider.replace(victim!.id);
    // To the size in force (what the controller asks to finish a roll a restart cut): nothing to
    // roll. Before, its end also ended the replacement's surge.
    const resized = provider.resize({ cpu: 1 });
    let resizeDone = false;
    void resized.then(() => {
      resizeDone = true;
    });
    // The controller's next tick asks for the count in force: the reconcile it runs must not take
    // the victim while its successor waits.
    const scaled = provider.scaleTo(2);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(drain.seen, undefined, `the victim went before its successor started: ${drain.seen}`);
    assert.equal(resizeDone, false, 'the resize finished while a replacement still held the surge');
    ports.open();
    await replaced;
    await resized;
    await scaled;
    assert.ok(drain.seen, 'the victim was drained');
    assert.equal(drain.short, false, drain.seen);
    assert.equal(readyIds(provider).length, 2, `ready: ${readyIds(provider).join(', ')}`);
  });
});

describe('local min_ready (a Deployment’s minReadySeconds)', () => {
  it('a successor that crashes within min_ready never let its victim go', async (t) => {
    // 60 s: far beyond this test, which ends (close) once the successor crashed.
    const provider = makeProvider(t, { minReady: 60_000 });
    await provider.scaleTo(2);
    const before = new Set(provider.instances().map((i) => i.id));
    const [victim] = provider.instances();
    const drain = watchVictim(provider, victim!.id);
    const replaced = provider.replace(victim!.id).catch((err: Error & { code?: string }) => err.code);
    await until(provider, () => readyIds(provider).length === 3);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(drain.seen, undefined, `the victim went as soon as its successor was ready: ${drain.seen}`);
    const successor = provider.instances().find((i) => i.state === 'ready' && !before.has(i.id))!;
    const crashed = new Promise<void>((resolve) => provider.once('crash', () => resolve()));
    await httpGet(successor.address, '/crash').catch(() => undefined);
    await crashed;
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(drain.seen, undefined, `the victim went though its successor crashed: ${drain.seen}`);
    assert.ok(readyIds(provider).includes(victim!.id), 'the victim still serves');
    await provider.close();
    assert.equal(await replaced, 'CLOSED', 'the replacement ends with the close');
  });

  it('a successor that stays ready min_ready lets its victim go', async (t) => {
    const provider = makeProvider(t, { minReady: 200 });
    await provider.scaleTo(2);
    const [victim] = provider.instances();
    const result = await provider.replace(victim!.id);
    assert.match(result.detail, /desired count without/);
    assert.ok(!readyIds(provider).includes(victim!.id), `${victim!.id} still runs`);
    assert.equal(readyIds(provider).length, 2);
  });

  it('a min_ready timer that fires before the clock says so looks again', async (t) => {
    // The provider's clock of min_ready (`elapsed`) is held back 300 ms once the successor is ready,
    // so its 200 ms timer fires with the clock 100 ms short of min_ready, as a timer started from a
    // busy loop's stale time does. Before, that `change` found it not yet available and no other
    // came: the replacement waited out its timeout (a wait of 30 s here) and failed.
    let lag = 0;
    const provider = makeProvider(t, { minReady: 200 }, { elapsed: () => performance.now() - lag });
    await provider.scaleTo(2);
    const [victim] = provider.instances();
    const before = new Set(provider.instances().map((i) => i.id));
    provider.on('change', () => {
      if (lag === 0 && provider.instances().some((i) => i.state === 'ready' && !before.has(i.id))) lag = 300;
    });
    const result = await provider.replace(victim!.id);
    assert.equal(lag, 300, 'the clock stepped back once the successor was ready');
    assert.match(result.detail, /desired count without/);
    assert.ok(!readyIds(provider).includes(victim!.id), `${victim!.id} still runs`);
  });
});

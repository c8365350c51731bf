// The one conformance suite every provider passes (local, kubernetes, aws): the same tests,
// registered for each implementation by `providerConformance`.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import type { Instance, InstanceSize, Provider } from '../../src/providers/index.js';
import { watchInstances } from '../../src/providers/index.js';

/** Subject is one provider under test plus what the suite needs to know about its engine. */
export interface Subject {
  provider: Provider;
  /** A size the provider can resize to; absent: the resize tests are skipped. */
  resizeTo?: InstanceSize;
  /** Reads an instance's size from the engine itself (cgroup files, pod spec, EC2). @defaultValue instance.size */
  sizeOf?: (instance: Instance) => InstanceSize | undefined;
  /**
   * replace starts the successor before the old one goes (local), so the number ready never drops;
   * engine providers (Kubernetes, AWS) let the old one go first and only promise one ready is left.
   * @defaultValue false
   */
  replaceKeepsCount?: boolean;
}

/** MakeSubject builds a fresh provider against an empty group; the suite closes it. */
export type MakeSubject = (t: TestContext) => Promise<Subject>;

const ADDRESS = /^(\[[0-9a-f:]+\]|[0-9.]+|[a-z0-9.-]+):\d{1,5}$/i;

/** waitUntil resolves once `predicate` holds, re-checked on every `change`. */
function waitUntil(provider: Provider, predicate: () => boolean, ms = 20_000): Promise<void> {
  if (predicate()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!predicate()) return;
      finish();
      resolve();
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`condition not met within ${ms} ms`));
    }, ms);
    const finish = () => {
      clearTimeout(timer);
      provider.off('change', check);
    };
    provider.on('change', check);
  });
}

/** providerConformance registers the shared provider tests under `describe(name)`. */
export function providerConformance(
  name: string,
  make: MakeSubject,
  options: { skip?: string | false } = {},
): void {
  describe(`provider conformance: ${name}`, { skip: options.skip ?? false }, () => {
    const subject = async (t: TestContext) => {
      const s = await make(t);
      s.provider.on('error', (err) => t.diagnostic(`provider error: ${err.message}`));
      t.after(() => s.provider.close());
      await s.provider.start?.();
      return s;
    };

    it('scaleTo(2) resolves with 2 ready instances, distinct ids and host:port addresses', async (t) => {
      const { provider } = await subject(t);
      await provider.scaleTo(2);
      const instances = provider.instances();
      assert.equal(provider.desired(), 2);
      assert.deepEqual(
        instances.map((i) => i.state),
        ['ready', 'ready'],
      );
      assert.equal(new Set(instances.map((i) => i.id)).size, 2);
      assert.equal(new Set(instances.map((i) => i.address)).size, 2);
      for (const i of instances) {
        assert.match(i.address, ADDRESS);
        assert.equal(typeof i.startedAt, 'number');
      }
    });

    it('scaling in keeps the oldest instance and is watched through change events', async (t) => {
      const { provider } = await subject(t);
      await provider.scaleTo(2);
      const [oldest] = provider.instances();
      const seen: number[] = [];
      const stop = watchInstances(provider, (list) => seen.push(list.length));
      await provider.scaleTo(1);
      await waitUntil(provider, () => provider.instances().length === 1);
      stop();
      assert.equal(provider.desired(), 1);
      assert.deepEqual(
        provider.instances().map((i) => [i.id, i.state]),
        [[oldest!.id, 'ready']],
      );
      assert.ok(seen.length >= 2, `watch saw ${seen.join(',')}`);
    });

    it('a later scaleTo supersedes an earlier one; both resolve at the later target', async (t) => {
      const { provider } = await subject(t);
      const first = provider.scaleTo(3);
      const second = provider.scaleTo(1);
      await Promise.all([first, second]);
      await waitUntil(
        provider,
        () =>
          provider.instances().filter((i) => i.state === 'ready').length === 1 &&
          provider.instances().length === 1,
      );
      assert.equal(provider.desired(), 1);
    });

    it('resize ends with every instance at the new size, never fewer in service', async (t) => {
      const s = await subject(t);
      if (!s.resizeTo || !s.provider.resize) return t.skip('this provider cannot resize here');
      const { provider } = s;
      await provider.scaleTo(2);
      let minReady = Number.POSITIVE_INFINITY;
      const stop = watchInstances(provider, (list) => {
        minReady = Math.min(minReady, list.filter((i) => i.state === 'ready').length);
      });
      await provider.resize!(s.resizeTo);
      stop();
      await waitUntil(
        provider,
        () => provider.instances().length === 2 && provider.instances().every((i) => i.state === 'ready'),
      );
      assert.ok(minReady >= 2, `ready instances dropped to ${minReady}`);
      const sizeOf = s.sizeOf ?? ((i: Instance) => i.size);
      for (const instance of provider.instances()) {
        const size = sizeOf(instance);
        for (const [key, want] of Object.entries(s.resizeTo)) {
          assert.equal(size?.[key as keyof InstanceSize], want, `${instance.id} ${key}`);
        }
      }
    });

    it('replace swaps one instance for a fresh one, leaves the other alone, never leaves none ready', async (t) => {
      const s = await subject(t);
      const { provider } = s;
      if (!provider.replace) return t.skip('this provider cannot replace');
      await provider.scaleTo(2);
      const [victim, other] = provider.instances();
      let minReady = Number.POSITIVE_INFINITY;
      const stop = watchInstances(provider, (list) => {
        minReady = Math.min(minReady, list.filter((i) => i.state === 'ready').length);
      });
      const result = await provider.replace(victim!.id);
      stop();
      await waitUntil(
        provider,
        () => provider.instances().length === 2 && provider.instances().every((i) => i.state === 'ready'),
      );
      assert.match(result.method, /^[a-z-]+$/);
      assert.ok(result.detail.length > 0, 'result.detail.length > 0');
      // An instance is one incarnation: a StatefulSet brings a replaced pod back under its name.
      const incarnation = (i: Instance) => `${i.id} ${i.address} ${i.startedAt}`;
      const now = provider.instances().map(incarnation);
      assert.ok(!now.includes(incarnation(victim!)), `${incarnation(victim!)} still in ${now.join(', ')}`);
      assert.ok(now.includes(incarnation(other!)), `${incarnation(other!)} was touched: ${now.join(', ')}`);
      assert.equal(provider.desired(), 2);
      assert.ok(minReady >= (s.replaceKeepsCount ? 2 : 1), `ready instances dropped to ${minReady}`);
    });

    it('replace of an unknown instance rejects NOT_FOUND and changes nothing', async (t) => {
      const { provider } = await subject(t);
      if (!provider.replace) return t.skip('this provider cannot replace');
      await provider.scaleTo(1);
      const before = provider.instances().map((i) => i.id);
      await assert.rejects(provider.replace('no-such-instance'), {
        name: 'ProviderError',
        code: 'NOT_FOUND',
      });
      assert.deepEqual(
        provider.instances().map((i) => i.id),
        before,
      );
    });

    it('rejects bad counts with INVALID_ARGUMENT; close is idempotent; CLOSED after close', async (t) => {
      const { provider } = await subject(t);
      await assert.rejects(provider.scaleTo(-1), { name: 'ProviderError', code: 'INVALID_ARGUMENT' });
      await assert.rejects(provider.scaleTo(1.5), { code: 'INVALID_ARGUMENT' });
      await Promise.all([provider.close(), provider.close()]);
      await assert.rejects(provider.scaleTo(1), { code: 'CLOSED' });
    });
  });
}

// A leader deposed while its takeover still adopts what runs (the provider's start is slow: a
// Kubernetes list and watch, local instances probed; the lease store stalls meanwhile) must not go
// on to start its groups and its control loop once the adoption ends: it stands by.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { Registry } from 'prom-client';
import type { Config } from '../../src/config/index.js';
import {
  Controller,
  DecisionJournal,
  GroupController,
  LeaderElector,
  Leadership,
  type LeadershipRole,
  RedisLease,
} from '../../src/controller/index.js';
import { createMetrics } from '../../src/metrics/index.js';
import { FencedProvider } from '../../src/providers/index.js';
import { groupConfig } from '../helpers/group-config.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { freePort } from '../helpers/ports.js';
import { RedisServer } from '../helpers/redis-server.js';
import { until } from '../helpers/until.js';

const up: string[] = [];
const log = (_: unknown, msg?: string) => void up.push(String(msg));
const silent = { info: log, warn: log, error() {} };

/** GatedProvider is an engine whose start (the adoption) waits until the test opens the gate. */
class GatedProvider extends MemoryProvider {
  started = false;
  #open: () => void = () => {};
  readonly #gate = new Promise<void>((resolve) => (this.#open = resolve));
  async start(): Promise<void> {
    this.started = true;
    await this.#gate;
  }
  open(): void {
    this.#open();
  }
}

describe('a leader deposed during its takeover', () => {
  it('starts neither its groups nor its loop once the adoption ends', async () => {
    const server = new RedisServer(await freePort());
    await server.start();
    const lease = new RedisLease({ url: server.url, name: 'deposed-mid-takeover' });
    await lease.connect();
    const engine = new GatedProvider('web');
    const group = groupConfig({ minInstances: 1, maxInstances: 4, initialInstances: 2 });
    const journal = new DecisionJournal();
    const controller = new Controller({
      // A loop due every 5 ms: started by mistake, it ticks long before the check below.
      config: { controller: { interval: 5, journalSize: 100 }, groups: { web: group } } as unknown as Config,
      journal,
      logger: silent,
      backends: () => [],
      groups: [
        new GroupController({
          config: group,
          provider: new FencedProvider(engine, async (token) => leadership.holds(token)),
          journal,
          metrics: createMetrics({ defaultMetrics: false }),
          logger: silent,
          readMetrics: () => [],
        }),
      ],
    });
    let ticks = 0;
    const tick = controller.tick.bind(controller);
    controller.tick = () => {
      ticks++;
      return tick();
    };
    const provider = controller.group('web').provider as FencedProvider;
    const roles: LeadershipRole[] = [];
    const elector = new LeaderElector({ store: lease, holder: 'slow-adopter', ttl: 60_000 });
    const leadership: Leadership = new Leadership({
      elector,
      lease,
      controller,
      journal,
      state: undefined,
      providers: new Map([['web', provider]]),
      registry: new Registry(),
      logger: silent,
      onRole: (role) => roles.push(role),
    });
    after(async () => {
      engine.open();
      await leadership.close();
      controller.close();
      await lease.close();
      await server.kill();
    });
    const started = leadership.start();
    await until(() => engine.started, 10_000, 'the takeover adopts what runs');
    assert.deepEqual(roles, ['takeover']);
    // Deposed meanwhile (a refused renewal, a state write refused): it stands by at once.
    elector.depose('the lease was taken over or expired');
    assert.equal(controller.leading, false, 'standing by');
    engine.open();
    await started;
    await until(() => roles.at(-1) === 'standby' && roles.length >= 2, 10_000, 'standing by');
    // Several of the loop's intervals: a loop started by mistake has ticked by then (timers run in order).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const startups = journal.entries({ group: 'web' }).filter((e) => e.source === 'startup');
    console.log(
      `after the deposal: ${ticks} loop tick(s), startup entries ${JSON.stringify(startups.map((e) => e.message))}, roles ${roles}`,
    );
    assert.equal(controller.leading, false, 'still standing by');
    assert.equal(ticks, 0, 'no control loop runs on a controller standing by');
    assert.deepEqual(startups, [], 'no group started (nothing journaled as its start)');
    assert.deepEqual(engine.calls, [], 'nothing asked of the engine');
    assert.deepEqual(
      up.filter((m) => m.startsWith('group web')),
      [],
      'no "group web is up" line',
    );
  });
});

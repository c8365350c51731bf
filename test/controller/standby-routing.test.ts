// A standby's membership from the recorded instances (planStandbyMembership) or from what a
// Kubernetes or AWS provider observes (planEngineMembership), and a new leader's membership while
// it adopts what the standby already routed to (mergeTakeover).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  mergeTakeover,
  planEngineMembership,
  planStandbyMembership,
  type RecordedMember,
} from '../../src/controller/index.js';
import type { Instance, InstanceState } from '../../src/providers/index.js';

const rec = (id: string, port: number, over: Partial<RecordedMember> = {}): RecordedMember => ({
  id,
  address: `127.0.0.1:${port}`,
  alive: true,
  draining: false,
  ...over,
});
const inst = (id: string, port: number, state: InstanceState): Instance => ({
  id,
  group: 'web',
  address: `127.0.0.1:${port}`,
  state,
  startedAt: 0,
});

describe('planStandbyMembership', () => {
  const cases: {
    name: string;
    recorded: RecordedMember[];
    current: [string, string][];
    join: string[];
    leave: [string, string][];
  }[] = [
    { name: 'nothing recorded, nothing routed', recorded: [], current: [], join: [], leave: [] },
    {
      name: 'new recorded instances join',
      recorded: [rec('web-1', 4001), rec('web-2', 4002)],
      current: [['web-1', '127.0.0.1:4001']],
      join: ['web-2'],
      leave: [],
    },
    {
      name: 'an instance no longer recorded leaves',
      recorded: [rec('web-1', 4001)],
      current: [
        ['web-1', '127.0.0.1:4001'],
        ['web-2', '127.0.0.1:4002'],
      ],
      join: [],
      leave: [['web-2', 'NotRecorded']],
    },
    {
      name: 'one the leader drains leaves, and a draining one never joins',
      recorded: [rec('web-1', 4001, { draining: true }), rec('web-2', 4002, { draining: true })],
      current: [['web-1', '127.0.0.1:4001']],
      join: [],
      leave: [['web-1', 'Draining']],
    },
    {
      name: 'a dead process leaves and does not join',
      recorded: [rec('web-1', 4001, { alive: false }), rec('web-2', 4002, { alive: false })],
      current: [['web-1', '127.0.0.1:4001']],
      join: [],
      leave: [['web-1', 'ProcessGone']],
    },
    {
      name: 'a moved instance leaves its old address and joins at the new one',
      recorded: [rec('web-1', 4009)],
      current: [['web-1', '127.0.0.1:4001']],
      join: ['web-1'],
      leave: [['web-1', 'AddressChanged']],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planStandbyMembership(c.recorded, new Map(c.current));
      assert.deepEqual(
        plan.join.map((j) => j.id),
        c.join,
      );
      assert.deepEqual(
        plan.leave.map((l) => [l.id, l.reason]),
        c.leave,
      );
    });
  }
});

describe('planEngineMembership', () => {
  const cases: {
    name: string;
    instances: Instance[];
    current: [string, string][];
    join: string[];
    leave: [string, string][];
  }[] = [
    { name: 'nothing listed, nothing routed', instances: [], current: [], join: [], leave: [] },
    {
      name: 'Ready instances join; starting ones wait',
      instances: [
        inst('web-1', 4001, 'ready'),
        inst('web-2', 4002, 'ready'),
        inst('web-3', 4003, 'starting'),
      ],
      current: [['web-1', '127.0.0.1:4001']],
      join: ['web-2'],
      leave: [],
    },
    {
      name: 'one no longer listed leaves (Gone)',
      instances: [inst('web-1', 4001, 'ready')],
      current: [
        ['web-1', '127.0.0.1:4001'],
        ['web-2', '127.0.0.1:4002'],
      ],
      join: [],
      leave: [['web-2', 'Gone']],
    },
    {
      name: 'a terminating pod / Terminating or Detaching instance leaves at once (Stopping) and never joins',
      instances: [inst('web-1', 4001, 'stopping'), inst('web-2', 4002, 'stopping')],
      current: [['web-1', '127.0.0.1:4001']],
      join: [],
      leave: [['web-1', 'Stopping']],
    },
    {
      name: 'an instance in Standby leaves (Draining)',
      instances: [inst('web-1', 4001, 'draining')],
      current: [['web-1', '127.0.0.1:4001']],
      join: [],
      leave: [['web-1', 'Draining']],
    },
    {
      name: 'a pod that lost Ready leaves (NotReady); a failed or Unhealthy one leaves (Failed)',
      instances: [inst('web-1', 4001, 'starting'), inst('web-2', 4002, 'failed')],
      current: [
        ['web-1', '127.0.0.1:4001'],
        ['web-2', '127.0.0.1:4002'],
      ],
      join: [],
      leave: [
        ['web-1', 'NotReady'],
        ['web-2', 'Failed'],
      ],
    },
    {
      name: 'a pod recreated under its name at a new IP leaves its old address and joins at the new one',
      instances: [inst('web-1', 4009, 'ready')],
      current: [['web-1', '127.0.0.1:4001']],
      join: ['web-1'],
      leave: [['web-1', 'AddressChanged']],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planEngineMembership(c.instances, new Map(c.current));
      assert.deepEqual(
        plan.join.map((j) => j.id),
        c.join,
      );
      assert.deepEqual(
        plan.leave.map((l) => [l.id, l.reason]),
        c.leave,
      );
    });
  }
});

describe('mergeTakeover', () => {
  const view = new Map([
    ['web-1', '127.0.0.1:4001'],
    ['web-2', '127.0.0.1:4002'],
  ]);

  it('before the provider lists anything, the view stays in rotation (adopting)', () => {
    const merged = mergeTakeover([], view, true);
    assert.deepEqual(
      merged.instances.map((i) => [i.id, i.state]),
      [
        ['web-1', 'ready'],
        ['web-2', 'ready'],
      ],
    );
    assert.equal(merged.view.size, 2);
  });

  it('an adopted instance still starting stays ready; one the provider decided on follows the provider', () => {
    const merged = mergeTakeover(
      [inst('web-1', 4001, 'starting'), inst('web-2', 4002, 'draining'), inst('web-3', 4003, 'starting')],
      view,
      true,
    );
    assert.deepEqual(
      merged.instances.map((i) => [i.id, i.state]),
      [
        ['web-1', 'ready'],
        ['web-2', 'draining'],
        ['web-3', 'starting'],
      ],
    );
    assert.deepEqual([...merged.view.keys()], ['web-1']);
  });

  it('a starting instance at another address is not promoted', () => {
    const merged = mergeTakeover([inst('web-1', 4999, 'starting')], view, true);
    assert.deepEqual(
      merged.instances.map((i) => [i.id, i.state]),
      [
        ['web-1', 'starting'],
        ['web-2', 'ready'],
      ],
    );
  });

  it('once adopted, what the provider does not list is dropped for good', () => {
    const merged = mergeTakeover([inst('web-1', 4001, 'ready')], view, false);
    assert.deepEqual(
      merged.instances.map((i) => [i.id, i.state]),
      [['web-1', 'ready']],
    );
    assert.equal(merged.view.size, 0);
  });
});

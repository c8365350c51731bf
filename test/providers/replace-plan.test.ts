import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type Instance, type InstanceState, planEngineReplace } from '../../src/providers/index.js';

const group = (...states: InstanceState[]): Instance[] =>
  states.map((state, k) => ({ id: `i-${k}`, group: 'web', address: `10.0.0.${k}:80`, state, startedAt: k }));

it('planEngineReplace: never the last ready instance, one removal at a time', () => {
  const cases: [string, Instance[], string, number, string][] = [
    ['unknown id', group('ready', 'ready'), 'nope', 2, 'NotFound'],
    ['not ready yet', group('starting', 'ready'), 'i-0', 2, 'NotFound'],
    ['the only instance', group('ready'), 'i-0', 1, 'LastReady'],
    ['the only ready one, the other starting', group('ready', 'starting'), 'i-0', 2, 'LastReady'],
    ['the only ready one, the other failed', group('ready', 'failed'), 'i-0', 2, 'LastReady'],
    ['another one stopping', group('ready', 'ready', 'stopping'), 'i-0', 2, 'DisruptionInProgress'],
    ['another one draining', group('ready', 'ready', 'draining'), 'i-0', 2, 'DisruptionInProgress'],
    ['one other ready of 2 desired', group('ready', 'ready'), 'i-0', 2, 'OnlyWay'],
    ['one other ready of 1 desired (surplus)', group('ready', 'ready'), 'i-1', 1, 'SpareReady'],
    ['two others ready of 2 desired', group('ready', 'ready', 'ready'), 'i-2', 2, 'SpareReady'],
  ];
  for (const [name, instances, id, desired, reason] of cases) {
    const plan = planEngineReplace(instances, id, desired);
    assert.equal(plan.reason, reason, name);
    assert.equal(plan.ok, reason === 'OnlyWay' || reason === 'SpareReady', name);
  }
});

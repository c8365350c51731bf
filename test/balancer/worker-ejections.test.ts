import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WorkerEjections } from '../../src/balancer/worker-ejections.js';

const b = { group: 'web', id: 'web-1', address: '127.0.0.1:3001' };
const c = { group: 'web', id: 'web-2', address: '127.0.0.1:3002' };

type Step =
  | ['eject', typeof b, number, boolean]
  | ['recover', typeof b, number, boolean]
  | ['gone', number, string[]]
  | ['forget', typeof b]
  | ['forgetGroup', string];

const cases: { name: string; steps: Step[] }[] = [
  {
    name: 'first ejection and last recovery report; the others are the same transition again',
    steps: [
      ['eject', b, 1, true],
      ['eject', b, 2, false],
      ['eject', b, 1, false],
      ['recover', b, 1, false],
      ['recover', b, 2, true],
      ['recover', b, 2, false],
    ],
  },
  {
    name: 'backends are independent; a recovery nobody ejected reports nothing',
    steps: [
      ['recover', b, 1, false],
      ['eject', b, 1, true],
      ['eject', c, 1, true],
      ['recover', c, 2, false],
      ['recover', c, 1, true],
      ['recover', b, 1, true],
    ],
  },
  {
    name: 'a dead worker: what only it had ejected is back; shared ejections stay',
    steps: [
      ['eject', b, 1, true],
      ['eject', c, 1, true],
      ['eject', c, 2, false],
      ['gone', 1, ['web-1']],
      ['recover', c, 2, true],
      ['gone', 2, []],
    ],
  },
  {
    name: 'a removed backend or group is forgotten without a recovery',
    steps: [
      ['eject', b, 1, true],
      ['eject', c, 2, true],
      ['forget', b],
      ['gone', 1, []],
      ['forgetGroup', 'web'],
      ['gone', 2, []],
      ['eject', b, 1, true],
    ],
  },
];

for (const { name, steps } of cases) {
  test(`WorkerEjections: ${name}`, () => {
    const ledger = new WorkerEjections();
    steps.forEach((step, i) => {
      const at = `step ${i}: ${JSON.stringify(step)}`;
      if (step[0] === 'eject') assert.equal(ledger.eject(step[1], step[2]), step[3], at);
      else if (step[0] === 'recover')
        assert.equal(ledger.recover(step[1].group, step[1].id, step[2]), step[3], at);
      else if (step[0] === 'gone')
        assert.deepEqual(
          ledger.workerGone(step[1]).map((x) => x.id),
          step[2],
          at,
        );
      else if (step[0] === 'forget') ledger.forget(step[1].group, step[1].id);
      else ledger.forgetGroup(step[1]);
    });
  });
}

// judgeProviderOutcome: when failing provider operations fire `provider:<group>`, as a table of
// outcome sequences (`op` ok, `op!` failed, each at its time in seconds) and the reason after each.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  judgeProviderOutcome,
  type ProviderFailureReason,
  type ProviderFailureState,
} from '../../src/alerts/index.js';

const rule = { after: 30_000, minFailures: 3 };

/** run plays `steps` (`[second, 'op' | 'op!']`) and returns each verdict's reason. */
function run(steps: [number, string][]): ProviderFailureReason[] {
  let state: ProviderFailureState = new Map();
  return steps.map(([second, step]) => {
    const failed = step.endsWith('!');
    const operation = failed ? step.slice(0, -1) : step;
    const verdict = judgeProviderOutcome(
      state,
      { operation, ...(failed && { error: new Error(`${operation} failed: 403 Forbidden`) }) },
      second * 1000,
      rule,
    );
    state = verdict.state;
    return verdict.reason;
  });
}

describe('judgeProviderOutcome', () => {
  const cases: { name: string; steps: [number, string][]; want: ProviderFailureReason[] }[] = [
    {
      name: 'successes only',
      steps: [
        [0, 'patch scale'],
        [10, 'list pods'],
      ],
      want: ['Healthy', 'Healthy'],
    },
    {
      name: 'one blip, then a success: never fires',
      steps: [
        [0, 'patch scale!'],
        [5, 'patch scale'],
      ],
      want: ['TransientFailure', 'Recovered'],
    },
    {
      // Boundary of `after`: 3 failures in 29.999 s are not enough, at 30 s they are.
      name: 'three failures just under 30 s, then at 30 s',
      steps: [
        [0, 'patch scale!'],
        [15, 'patch scale!'],
        [29.999, 'patch scale!'],
        [30, 'patch scale!'],
      ],
      want: ['TransientFailure', 'TransientFailure', 'TransientFailure', 'PersistentFailure'],
    },
    {
      // Boundary of `minFailures`: two failures a minute apart are not enough.
      name: 'two failures over 60 s, then a third',
      steps: [
        [0, 'pods watch!'],
        [60, 'pods watch!'],
        [61, 'pods watch!'],
      ],
      want: ['TransientFailure', 'TransientFailure', 'PersistentFailure'],
    },
    {
      name: 'a success between resets the streak',
      steps: [
        [0, 'patch scale!'],
        [15, 'patch scale!'],
        [20, 'patch scale'],
        [30, 'patch scale!'],
        [45, 'patch scale!'],
      ],
      want: ['TransientFailure', 'TransientFailure', 'Recovered', 'TransientFailure', 'TransientFailure'],
    },
    {
      // RBAC that grants reads but not the scale write: reads succeeding do not end the write's streak.
      name: 'another operation succeeding keeps it firing; its own success resolves',
      steps: [
        [0, 'patch scale!'],
        [15, 'patch scale!'],
        [30, 'patch scale!'],
        [31, 'read scale'],
        [45, 'patch scale'],
      ],
      want: ['TransientFailure', 'TransientFailure', 'PersistentFailure', 'PersistentFailure', 'Recovered'],
    },
    {
      name: 'two operations failing: resolved only once the persistent one succeeds',
      steps: [
        [0, 'pods watch!'],
        [15, 'pods watch!'],
        [20, 'list pods!'],
        [30, 'pods watch!'],
        [31, 'pods watch'],
        [32, 'list pods'],
      ],
      want: [
        'TransientFailure',
        'TransientFailure',
        'TransientFailure',
        'PersistentFailure',
        'TransientFailure',
        'Recovered',
      ],
    },
    {
      name: 'failures of different operations do not add up',
      steps: [
        [0, 'list pods!'],
        [15, 'read scale!'],
        [30, 'patch scale!'],
      ],
      want: ['TransientFailure', 'TransientFailure', 'TransientFailure'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      assert.deepEqual(run(c.steps), c.want);
    });
  }

  it('names the longest failing streak, with its count and last error, and the streak a success ended', () => {
    let state: ProviderFailureState = new Map();
    for (const [t, op] of [
      [0, 'pods watch'],
      [5, 'patch scale'],
      [10, 'pods watch'],
      [20, 'patch scale'],
      [35, 'patch scale'],
      [40, 'pods watch'],
    ] as const) {
      state = judgeProviderOutcome(
        state,
        { operation: op, error: new Error(`${op} failed at ${t}`) },
        t * 1000,
        rule,
      ).state;
    }
    const verdict = judgeProviderOutcome(state, { operation: 'read scale' }, 41_000, rule);
    assert.equal(verdict.firing, true);
    assert.deepEqual(verdict.streak, {
      operation: 'pods watch',
      since: 0,
      failures: 3,
      lastError: 'pods watch failed at 40',
    });
    assert.equal(verdict.ended, undefined, 'read scale was not failing');
    const ended = judgeProviderOutcome(verdict.state, { operation: 'pods watch' }, 42_000, rule);
    assert.equal(ended.firing, true, 'patch scale: 3 failures over 30 s');
    assert.equal(ended.streak?.operation, 'patch scale');
    assert.equal(ended.ended?.operation, 'pods watch');
    assert.equal(state.size, 2, 'the state passed in is not changed');
  });
});

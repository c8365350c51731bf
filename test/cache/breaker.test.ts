import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type BreakerConfig,
  type BreakerReason,
  type BreakerState,
  breakerAllow,
  breakerFailure,
  breakerReconnected,
  breakerSuccess,
  initialBreakerState,
  reconnectDelay,
} from '../../src/cache/index.js';

const config: BreakerConfig = { failureThreshold: 3, openMs: 1000 };

type Step = ['allow', number] | ['fail', number] | ['ok'] | ['reconnect'];

/** Runs `steps` from a closed breaker and returns "reason/status" per step (allow adds +/-). */
function run(steps: Step[]): string[] {
  let state: BreakerState = initialBreakerState();
  const out: string[] = [];
  for (const step of steps) {
    let reason: BreakerReason;
    let mark = '';
    if (step[0] === 'allow') {
      const r = breakerAllow(state, step[1], config);
      state = r.state;
      reason = r.reason;
      mark = r.allowed ? '+' : '-';
    } else if (step[0] === 'fail') ({ state, reason } = breakerFailure(state, step[1], config));
    else if (step[0] === 'ok') ({ state, reason } = breakerSuccess(state));
    else ({ state, reason } = breakerReconnected(state));
    out.push(`${reason}${mark}/${state.status}`);
  }
  return out;
}

test('breaker transitions', () => {
  const cases: { name: string; steps: Step[]; want: string[] }[] = [
    {
      name: 'opens at the threshold of consecutive failures',
      steps: [
        ['fail', 0],
        ['fail', 1],
        ['fail', 2],
        ['allow', 3],
      ],
      want: ['FailureCounted/closed', 'FailureCounted/closed', 'Opened/open', 'Refused-/open'],
    },
    {
      name: 'a success resets the count',
      steps: [['fail', 0], ['fail', 1], ['ok'], ['fail', 2], ['allow', 3]],
      want: [
        'FailureCounted/closed',
        'FailureCounted/closed',
        'Unchanged/closed',
        'FailureCounted/closed',
        'Allowed+/closed',
      ],
    },
    {
      name: 'one probe after openMs (boundary both sides), success closes',
      steps: [
        ['fail', 0],
        ['fail', 0],
        ['fail', 0],
        ['allow', 999],
        ['allow', 1000],
        ['allow', 1000],
        ['ok'],
        ['allow', 1001],
      ],
      want: [
        'FailureCounted/closed',
        'FailureCounted/closed',
        'Opened/open',
        'Refused-/open',
        'ProbeAllowed+/half-open',
        'ProbeInFlight-/half-open',
        'Closed/closed',
        'Allowed+/closed',
      ],
    },
    {
      name: 'failed probe reopens from its own time',
      steps: [
        ['fail', 0],
        ['fail', 0],
        ['fail', 0],
        ['allow', 1000],
        ['fail', 1500],
        ['allow', 2499],
        ['allow', 2500],
      ],
      want: [
        'FailureCounted/closed',
        'FailureCounted/closed',
        'Opened/open',
        'ProbeAllowed+/half-open',
        'Reopened/open',
        'Refused-/open',
        'ProbeAllowed+/half-open',
      ],
    },
    {
      name: 'reconnect skips the rest of the open window',
      steps: [['fail', 0], ['fail', 0], ['fail', 0], ['reconnect'], ['allow', 1]],
      want: [
        'FailureCounted/closed',
        'FailureCounted/closed',
        'Opened/open',
        'Reconnected/half-open',
        'ProbeAllowed+/half-open',
      ],
    },
    { name: 'reconnect while closed changes nothing', steps: [['reconnect']], want: ['Unchanged/closed'] },
  ];
  for (const { name, steps, want } of cases) assert.deepEqual(run(steps), want, name);
});

test('reconnectDelay: exponential, capped, equal jitter', () => {
  const backoff = { baseMs: 50, maxMs: 2000 };
  const cases = [
    { attempt: 1, random: 0, want: 25 },
    { attempt: 1, random: 1, want: 50 },
    { attempt: 3, random: 0, want: 100 },
    { attempt: 3, random: 1, want: 200 },
    { attempt: 7, random: 0, want: 1000 },
    { attempt: 7, random: 1, want: 2000 },
    { attempt: 100, random: 0.5, want: 1500 },
  ];
  for (const { attempt, random, want } of cases)
    assert.equal(
      reconnectDelay(attempt, backoff, () => random),
      want,
      `attempt ${attempt} random ${random}`,
    );
});

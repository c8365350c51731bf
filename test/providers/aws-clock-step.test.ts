// The provider's waits (a scale, a replacement, a resize) end after `timeout`. They were timed on
// its clock `now`, the wall clock (that of AWS's launch times and activities): a step of the system
// clock forward (NTP, a VM resumed, `date -s`) failed a wait under way at once, a step back held it
// for as long as the step. The provider's `now` steps forward an hour here, in the middle of a scale.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AwsProvider } from '../../src/providers/index.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

describe('aws provider: a step of the system clock', () => {
  it('forward 1 h while a scale-out waits: the scale completes', async (t) => {
    // Instances stay Pending 300 ms: the wait is under way when the clock steps.
    const server = new AwsServer({ launchMs: 300 });
    await server.start();
    t.after(() => server.close());
    const clock = { step: 0 };
    const provider = new AwsProvider({
      ...awsTestOptions(server.url),
      now: () => Date.now() + clock.step,
    });
    t.after(() => provider.close());
    await provider.start();
    // The wait polls the group: the first poll that lists the new instances (Pending) is within it.
    provider.on('change', () => {
      if (provider.instances().some((i) => i.state === 'starting')) clock.step = 3_600_000;
    });
    await provider.scaleTo(2);
    assert.equal(clock.step, 3_600_000, 'the clock stepped forward during the scale');
    assert.deepEqual(
      provider.instances().map((i) => i.state),
      ['ready', 'ready'],
      'both instances ready',
    );
  });
});

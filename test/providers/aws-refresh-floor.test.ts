// The floor of an instance refresh as Auto Scaling counts it: MinHealthyPercentage of the desired
// capacity, rounded up to a whole instance (RefreshPreferences in the API reference). Before, the
// percentage sent was raised to ceil(100 × min_instances / desired), which that rounding turned into
// one instance more than min_instances whenever it was not whole (min 1 of 3: 34%, a floor of 2),
// and a floor of the whole group went with MaxHealthyPercentage 100 (the default 90% of 3 instances
// is 2.7, all 3): no room to launch a replacement first, and the refresh could replace nothing
// without going below the floor. Against AwsServer, whose refresh keeps the same rounded floor.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { refreshMaxHealthyPercentage, refreshMinHealthyPercentage } from '../../src/providers/aws/index.js';
import { AwsProvider } from '../../src/providers/index.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

describe('aws: instance refresh floor, as Auto Scaling rounds it', { timeout: 60_000 }, () => {
  it('keeps max(min_instances, the configured %) healthy, not one more, and surges when that is the whole group', () => {
    // Auto Scaling's count, kept apart from the code under test: a percentage of desired, rounded up.
    const awsFloor = (percent: number, desired: number) => Math.ceil((desired * percent) / 100);
    // The two the loop below would find first among small groups, named.
    assert.equal(
      awsFloor(refreshMinHealthyPercentage(0, 1, 3), 3),
      1,
      'min 1 of 3 keeps 1 healthy (34% kept 2)',
    );
    assert.equal(
      awsFloor(refreshMinHealthyPercentage(0, 2, 3), 3),
      2,
      'min 2 of 3 keeps 2 healthy (67% kept 3)',
    );
    const checked: string[] = [];
    for (const desired of [1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 20, 150, 301]) {
      for (let min = 0; min <= desired; min += desired > 20 ? 37 : 1) {
        for (const configured of [0, 10, 50, 75, 90, 95, 100]) {
          const name = `${configured}% configured, min ${min} of ${desired}`;
          const minPct = refreshMinHealthyPercentage(configured, min, desired);
          const maxPct = refreshMaxHealthyPercentage(minPct, desired);
          const floor = awsFloor(minPct, desired);
          const wanted = Math.max(min, awsFloor(configured, desired));
          assert.ok(
            Number.isInteger(minPct) && minPct >= 0 && minPct <= 100,
            `${name}: MinHealthyPercentage ${minPct}`,
          );
          // Up to 100 instances a whole percent reaches every count; above, the least one past it.
          if (desired <= 100)
            assert.equal(floor, wanted, `${name}: ${minPct}% keeps ${floor} healthy, wanted ${wanted}`);
          else {
            assert.ok(floor >= wanted, `${name}: ${minPct}% keeps ${floor} healthy, wanted ${wanted}`);
            if (minPct > configured && floor < desired)
              assert.ok(awsFloor(minPct - 1, desired) < wanted, `${name}: ${minPct - 1}% would do`);
          }
          assert.ok(
            maxPct >= 100 && maxPct <= 200 && maxPct - minPct <= 100,
            `${name}: Max ${maxPct}, Min ${minPct}`,
          );
          if (floor >= desired) {
            assert.equal(minPct, 100, `${name}: a floor of the whole group is sent as 100%`);
            assert.ok(
              Math.floor((desired * maxPct) / 100) >= desired + 1,
              `${name}: MaxHealthyPercentage ${maxPct} leaves room for one replacement`,
            );
          } else assert.equal(maxPct, 100, `${name}: old instances go first`);
          checked.push(name);
        }
      }
    }
    assert.ok(checked.length > 500, `${checked.length} cases`);
  });

  it('a 3-instance group at the default 90%: the refresh launches before it terminates, all 3 stay in service', async (t) => {
    const server = new AwsServer();
    await server.start();
    t.after(() => server.close());
    server.addInstances(3);
    const provider = new AwsProvider({
      ...awsTestOptions(server.url, { minHealthyPercentage: 90 }),
      minInstances: 1,
      // Long enough for the fake's refresh (under a second here), short enough to fail fast.
      timeout: 5000,
    });
    t.after(() => provider.close());
    await provider.start();
    server.inServiceHistory.length = 0;
    // Before, 90%/100% of 3: the fake's refresh (as Auto Scaling) could neither terminate one of
    // the 3 it must keep nor launch a 4th, and the resize ran out of time.
    await provider.resize({ instanceType: 't3.large' });
    const start = server.requests.find((r) => r.action === 'StartInstanceRefresh');
    const sent = {
      min: start?.params['Preferences.MinHealthyPercentage'],
      max: start?.params['Preferences.MaxHealthyPercentage'],
    };
    // 90% of 3 rounds up to all 3: 100%, and one replacement above (134% of 3 is 4).
    assert.deepEqual(sent, { min: '100', max: '134' }, 'the preferences StartInstanceRefresh got');
    const lowest = Math.min(...server.inServiceHistory);
    t.diagnostic(`in service during the refresh: lowest ${lowest} of 3`);
    assert.equal(lowest, 3, `in service dropped to ${lowest}`);
    assert.equal(server.refresh?.status, 'Successful');
  });
});

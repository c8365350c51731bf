// A resize asked while an instance refresh this provider did not start is active (the console's,
// another tool's): refused BUSY before anything changes, size() kept. (One of this provider's own
// resizes is superseded instead: aws-resize-supersede.test.ts.) Against the fake Auto Scaling/EC2
// (aws-server.ts), AWS SDK v3.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { AwsProvider } from '../../src/providers/index.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

async function setup(t: TestContext) {
  // Replacements stay Pending for a minute: the first refresh is still InProgress for the test.
  const server = new AwsServer({ launchMs: 60_000 });
  await server.start();
  t.after(() => server.close());
  server.addInstances(2);
  const provider = new AwsProvider({ ...awsTestOptions(server.url, { minHealthyPercentage: 100 }) });
  t.after(() => provider.close());
  await provider.start();
  return { server, provider };
}

/** resizing starts a resize to `type`; `saved` resolves once its template version, group update and refresh start are written. */
function resizing(provider: AwsProvider, type: string): { done: Promise<void>; saved: Promise<void> } {
  let handed!: (write: Promise<void>) => void;
  const written = new Promise<Promise<void>>((resolve) => (handed = resolve));
  const done = provider.resize({ instanceType: type }, { onSizeSaved: handed });
  done.catch(() => {});
  return { done, saved: written.then((write) => write) };
}

const versionWrites = (server: AwsServer) =>
  server.requests
    .filter((r) => r.action === 'CreateLaunchTemplateVersion')
    .map((r) => r.params['LaunchTemplateData.InstanceType']);

describe('AWS: a resize while an instance refresh of someone else runs', () => {
  it('refused by a refresh someone else runs: size() keeps what it was', async (t) => {
    const { server, provider } = await setup(t);
    server.refresh = { id: 'ir-console', status: 'InProgress', min: 90, max: 100 };
    await assert.rejects(provider.resize({ instanceType: 'm5.large' }), { code: 'BUSY' });
    assert.equal(provider.size(), undefined, `size() says ${JSON.stringify(provider.size())}`);
    // Once it ended, a resize goes through (nothing was left claiming to be in progress).
    server.refresh.status = 'Successful';
    const { saved } = resizing(provider, 'm5.large');
    await saved;
    assert.deepEqual(versionWrites(server), ['m5.large']);
  });
});

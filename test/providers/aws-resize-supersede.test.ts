// A resize asked while another one of this provider is in progress supersedes it, as on the local
// and Kubernetes providers: the first ends RESIZE_SUPERSEDED, its instance refresh is cancelled
// (CancelInstanceRefresh) and, once Cancelled, the later resize writes its launch template version
// and starts its own refresh, which rolls every instance onto its type. Before, the later one was
// refused BUSY until the first had rolled every instance. Against the fake Auto Scaling/EC2
// (aws-server.ts) over HTTP, spoken to by AWS SDK v3.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { AwsProvider } from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { awsTestOptions } from './aws-helpers.js';
import { AwsServer } from './aws-server.js';

/**
 * setup is a group of 2 InService instances at t3.small whose replacements stay Pending
 * `launchMs`, and whose cancelled refreshes stay Cancelling `cancelMs`, under a started provider.
 */
async function setup(t: TestContext, options: { launchMs: number; cancelMs?: number }) {
  const server = new AwsServer(options);
  await server.start();
  t.after(() => server.close());
  server.addInstances(2);
  const provider = new AwsProvider({ ...awsTestOptions(server.url, { minHealthyPercentage: 50 }) });
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
  const saved = written.then((write) => write);
  // A resize refused before its writes rejects both; a test may await only `done`.
  saved.catch(() => {});
  return { done, saved };
}

const versionWrites = (server: AwsServer) =>
  server.requests
    .filter((r) => r.action === 'CreateLaunchTemplateVersion')
    .map((r) => r.params['LaunchTemplateData.InstanceType']);

const actions = (server: AwsServer, pattern: RegExp) =>
  server.requests.map((r) => r.action).filter((a) => pattern.test(a));

/** live is the type of every Pending or InService instance of the group, sorted. */
const live = (server: AwsServer) =>
  [...server.instances.values()]
    .filter((i) => i.lifecycle === 'Pending' || i.lifecycle === 'InService')
    .map((i) => `${i.type} ${i.lifecycle}`)
    .sort();

const superseded = { code: 'RESIZE_SUPERSEDED' };

describe('AWS: a resize while a resize is in progress supersedes it', () => {
  it('asked while the first refresh rolls: the first is cancelled, and once Cancelled the second rolls every instance onto its type', async (t) => {
    const { server, provider } = await setup(t, { launchMs: 300, cancelMs: 200 });
    const first = resizing(provider, 't3.large');
    await first.saved;
    const firstRefresh = server.refresh!.id;
    // The first refresh launched a t3.large: it is rolling, not done.
    await until(() => live(server).some((i) => i.startsWith('t3.large')), 10_000, 'a t3.large launched');
    assert.equal(server.refresh?.status, 'InProgress');
    const second = resizing(provider, 'm5.large');
    assert.deepEqual(provider.size(), { instanceType: 'm5.large' }, 'size() says the latest size asked for');
    await assert.rejects(first.done, superseded);
    await second.saved;
    assert.deepEqual(
      actions(server, /InstanceRefresh$|LaunchTemplateVersion$/),
      [
        'CreateLaunchTemplateVersion',
        'StartInstanceRefresh',
        'CancelInstanceRefresh',
        'CreateLaunchTemplateVersion',
        'StartInstanceRefresh',
      ],
      'cancelled, then the second version and refresh (a refused StartInstanceRefresh would have rejected)',
    );
    assert.deepEqual(versionWrites(server), ['t3.large', 'm5.large']);
    assert.notEqual(server.refresh!.id, firstRefresh);
    assert.equal(server.group.template!.version, '3', "the group launches the second resize's version");
    await second.done;
    assert.equal(server.refresh!.status, 'Successful');
    // Every instance the group runs is of the second type, the first refresh's t3.large included.
    // (The fake's refresh, like its single-resize runs in aws.test.ts, may end at the floor that
    // MinHealthyPercentage allows, below desired: its scale back up is not what is tested here.)
    const types = live(server);
    assert.ok(
      types.length >= 1 && types.every((i) => i === 'm5.large InService'),
      `live: ${types.join(', ')}`,
    );
    assert.deepEqual(provider.size(), { instanceType: 'm5.large' });
  });

  it('asked in the same moment: the first writes its version and refresh, then hands over; the group ends on the second type', async (t) => {
    const { server, provider } = await setup(t, { launchMs: 60_000 });
    const first = resizing(provider, 't3.large');
    const second = resizing(provider, 'm5.large');
    await assert.rejects(first.done, superseded);
    await second.saved;
    assert.deepEqual(versionWrites(server), ['t3.large', 'm5.large']);
    assert.equal(server.group.template!.version, '3');
    assert.equal(server.refresh?.status, 'InProgress', "the second resize's refresh rolls");
    assert.deepEqual(provider.size(), { instanceType: 'm5.large' });
  });

  it('three in a row: the middle one, superseded while it waited for the first, writes nothing', async (t) => {
    const { server, provider } = await setup(t, { launchMs: 60_000 });
    const first = resizing(provider, 't3.large');
    await first.saved;
    const middle = resizing(provider, 'm5.large');
    const last = resizing(provider, 'c5.large');
    await assert.rejects(first.done, superseded);
    await assert.rejects(middle.done, superseded);
    await last.saved;
    assert.deepEqual(versionWrites(server), ['t3.large', 'c5.large']);
    assert.equal(server.group.template!.version, '3');
    assert.deepEqual(provider.size(), { instanceType: 'c5.large' });
  });

  it('a later resize finds a refresh someone else started meanwhile: theirs is not cancelled, the later one is BUSY, size() says what the group launches', async (t) => {
    const { server, provider } = await setup(t, { launchMs: 60_000 });
    const first = resizing(provider, 't3.large');
    await first.saved;
    // The operator cancelled ours and started one of their own.
    server.refresh!.status = 'Cancelled';
    server.refresh = { id: 'ir-console', status: 'InProgress', min: 90, max: 100 };
    const second = resizing(provider, 'm5.large');
    await assert.rejects(first.done, superseded);
    await assert.rejects(second.done, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BUSY', `${err.code}: ${err.message}`);
      assert.match(err.message, /instance refresh ir-console is InProgress: resize to m5\.large refused/);
      return true;
    });
    assert.deepEqual(actions(server, /^CancelInstanceRefresh$/), [], "the operator's refresh was cancelled");
    assert.equal(server.refresh.status, 'InProgress');
    assert.deepEqual(provider.size(), { instanceType: 't3.large' }, 'the group launches the first version');
    assert.deepEqual(versionWrites(server), ['t3.large']);
  });

  it('in place (no launch template): the instance being resized is finished, then the later resize takes every instance to its type', async (t) => {
    const { server, provider } = await setup(t, { launchMs: 60 });
    server.addInstances(1);
    // No launch template: each instance in turn is drained, stopped, given the type and started.
    server.group.template = undefined;
    const first = provider.resize({ instanceType: 'm5.large' });
    first.catch(() => {});
    await until(() => actions(server, /^StopInstances$/).length === 1, 10_000, 'the first instance stopping');
    const second = provider.resize({ instanceType: 'c5.large' });
    await assert.rejects(first, superseded);
    await second;
    const modified = server.requests
      .filter((r) => r.action === 'ModifyInstanceAttribute')
      .map((r) => r.params['InstanceType.Value']);
    assert.deepEqual(
      modified,
      ['m5.large', 'c5.large', 'c5.large', 'c5.large'],
      'one at m5.large, then all three',
    );
    const listed = [...server.instances.values()].map((i) => `${i.type} ${i.lifecycle} ${i.ec2State}`);
    assert.deepEqual(listed, Array(3).fill('c5.large InService running'));
    assert.deepEqual(provider.size(), { instanceType: 'c5.large' });
  });
});

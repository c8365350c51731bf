// resize-group on Kubernetes and AWS answers 202 only once the engine took the size: the PATCH of
// the pod template (Kubernetes), the launch template version + group update + instance refresh
// (AWS). From there the engine rolls on its own; before, the 202 came while those calls were still
// to be made, so a controller that died in between lost a resize it had accepted (a successor has
// only the journal entry and does not act on it). The control API runs over a real provider against
// the fake API servers (kube-server.ts, aws-server.ts), spoken to by the official clients over HTTP.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import {
  AwsProvider,
  BusyError,
  FencedProvider,
  KubernetesProvider,
  type Provider,
} from '../../src/providers/index.js';
import { ROLL_ANNOTATION } from '../../src/providers/kubernetes/index.js';
import { type ApiHarness, startApi, TOKEN } from '../helpers/api-harness.js';
import { MemoryProvider } from '../helpers/memory-provider.js';
import { until } from '../helpers/until.js';
import { AwsServer } from './aws-server.js';
import { KubeServer, kubeConfig, WEB_DEPLOYMENT } from './kube-server.js';

process.env.AWS_ACCESS_KEY_ID ??= 'AKIDTEST';
process.env.AWS_SECRET_ACCESS_KEY ??= 'test-secret';

const MIB = 1024 * 1024;

/** Whether the fake lease still names this controller's token (false: it was deposed). */
const lease = { current: true };

/**
 * serve puts the control API over `provider` (started; closed with the test, then `server`), fenced as a leader's
 * provider is (its lease check passes while `lease.current`): what reaches the controller is what HA runs.
 */
async function serve(
  t: TestContext,
  server: { close(): Promise<void> },
  provider: Provider,
  storeTimeoutMs?: number,
): Promise<ApiHarness<Provider>> {
  await provider.start?.();
  const fenced = new FencedProvider(provider, async () => lease.current);
  fenced.setToken(1);
  const api = await startApi({
    provider: fenced as Provider,
    ...(storeTimeoutMs !== undefined && { server: { storeTimeoutMs } }),
  });
  // In this order: a provider still polling a closed fake server reports errors nobody listens to.
  t.after(async () => {
    await api.close();
    await provider.close();
    await server.close();
  });
  return api;
}

/** kubernetesProvider is the provider over workload shop/web of `server`. */
function kubernetesProvider(server: KubeServer, kind: 'Deployment' | 'StatefulSet') {
  return new KubernetesProvider({
    group: 'web',
    config: { ...WEB_DEPLOYMENT, kind },
    minInstances: 1,
    maxInstances: 5,
    cpuTarget: 70,
    client: { kubeConfig: kubeConfig(server.url) },
    rolloutPoll: 50,
    rewatchDelay: 50,
    timeout: 15_000,
  });
}

async function kubernetes(t: TestContext, kind: 'Deployment' | 'StatefulSet', storeTimeoutMs?: number) {
  const server = new KubeServer();
  await server.start();
  server.addWorkload(kind, 'shop', 'web', 2);
  const provider = kubernetesProvider(server, kind);
  const api = await serve(t, server, provider, storeTimeoutMs);
  // Resources of the workload's container as the API server stores them.
  const stored = () => server.workloads.get('shop/web')?.object.spec.template.spec.containers[0].resources;
  return { server, api, stored, provider };
}

/** POD_READY_MS is how long a new pod takes to be Ready in the slow-pod tests: past their 300 ms bound. */
const POD_READY_MS = 1500;

/**
 * slowStatefulSet is shop/web, a StatefulSet of 2 pods (Ready), behind the control API answering a
 * resize within 300 ms, whose new pods from then on take POD_READY_MS to be Ready.
 */
async function slowStatefulSet(t: TestContext) {
  const setup = await kubernetes(t, 'StatefulSet', 300);
  await until(
    () => setup.provider.instances().filter((i) => i.state === 'ready').length === 2,
    10_000,
    '2 pods Ready',
  );
  setup.server.podReadyMs = POD_READY_MS;
  const sts = () => setup.server.workloads.get('shop/web')!.object;
  const pods = () =>
    [...setup.server.pods.values()]
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => `${p.metadata.name} ${p.spec.containers[0].resources?.limits?.cpu ?? '-'}`)
      .sort();
  return { ...setup, sts, pods };
}

/** rolled says the StatefulSet is the user's again: 2 pods at `cpu`, all Ready, no annotation of ours, `partition`. */
function rolled(server: KubeServer, cpu: string, partition: number): boolean {
  const sts = server.workloads.get('shop/web')!.object;
  const pods = [...server.pods.values()];
  return (
    sts.spec.replicas === 2 &&
    sts.metadata.annotations?.[ROLL_ANNOTATION] === undefined &&
    sts.spec.updateStrategy.rollingUpdate.partition === partition &&
    pods.length === 2 &&
    pods.every(
      (p) =>
        !p.metadata.deletionTimestamp &&
        p.spec.containers[0].resources?.limits?.cpu === cpu &&
        p.status.conditions?.some(
          (c: { type: string; status: string }) => c.type === 'Ready' && c.status === 'True',
        ),
    )
  );
}

async function aws(t: TestContext, storeTimeoutMs?: number) {
  const server = new AwsServer();
  await server.start();
  server.addInstances(2);
  const provider = new AwsProvider({
    group: 'web',
    config: {
      provider: 'aws',
      autoScalingGroup: 'web-asg',
      region: 'us-east-1',
      endpoint: server.url,
      port: 8080,
      instanceWarmup: 0,
      minHealthyPercentage: 50,
      pollInterval: 40,
    },
    minInstances: 1,
    maxInstances: 5,
    timeout: 10_000,
  });
  const api = await serve(t, server, provider, storeTimeoutMs);
  return { server, api };
}

function resize(api: ApiHarness<Provider>, body: object) {
  return api.call('/api/scalability/resize-group', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ group: 'web', ...body }),
  });
}

describe('resize-group on Kubernetes: answered once the API server stored the pod template', () => {
  for (const kind of ['Deployment', 'StatefulSet'] as const) {
    it(`${kind}: the 202 comes after the PATCH of the resources was stored`, async (t) => {
      const { api, stored } = await kubernetes(t, kind);
      const res = await resize(api, { cpu: 0.5, memory: 256 * MIB });
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(
        stored(),
        { limits: { cpu: '500m', memory: '256Mi' }, requests: { cpu: '500m', memory: '256Mi' } },
        'answered 202 before the API server stored the new resources',
      );
    });
  }

  it('a PATCH not stored within the bound is a 503 naming it, in effect; the resize goes on once it is', async (t) => {
    const { server, api, stored } = await kubernetes(t, 'Deployment', 300);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    server.hold = (method, path) =>
      method === 'PATCH' && path === '/apis/apps/v1/namespaces/shop/deployments/web' ? held : undefined;
    const res = await resize(api, { cpu: 0.25 });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body.code, 'SCALEPLANE_NOT_STORED');
    assert.equal(res.body.inEffect, true);
    assert.match(
      res.body.error,
      /^group "web": resize is in effect on this controller but not stored: the PATCH of Deployment shop\/web's pod template resources was not made within 300 ms/,
    );
    assert.doesNotMatch(res.body.error, /state store/);
    assert.equal(stored(), undefined, 'the PATCH was stored before the answer');
    release();
    // In effect, as the 503 said: the resize carries on once the API server answers.
    await until(() => stored()?.limits?.cpu === '250m', 10_000, 'the held PATCH stored');
  });

  it('a refused PATCH is a 503 saying the resize is not in effect, with the API server reason', async (t) => {
    const { server, api, stored } = await kubernetes(t, 'Deployment');
    server.forbid = (method, path) =>
      method === 'PATCH' && path === '/apis/apps/v1/namespaces/shop/deployments/web';
    const res = await resize(api, { memory: 128 * MIB });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body.code, 'SCALEPLANE_NOT_STORED');
    assert.equal(res.body.inEffect, false);
    assert.match(
      res.body.error,
      /^group "web": resize not stored: the resize stopped before the PATCH of Deployment shop\/web's pod template resources was made \(API_ERROR: .*forbidden.*\), so it is not in effect: repeat it$/,
    );
    assert.equal(stored(), undefined);
  });
});

describe('resize-group on a StatefulSet whose pods are slow to be Ready', () => {
  it('the 202 comes once the template is stored behind a partition, before any pod changes; the roll then finishes with one extra pod', async (t) => {
    const { server, api, stored, sts, pods } = await slowStatefulSet(t);
    server.readyHistory.length = 0;
    const res = await resize(api, { cpu: 0.5 });
    // Before: the PATCH came only after an extra pod was Ready (POD_READY_MS), past the 300 ms bound: 503.
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(stored(), { limits: { cpu: '500m' }, requests: { cpu: '500m' } });
    assert.equal(sts().spec.updateStrategy.rollingUpdate.partition, 2, 'no pod ordinal is at the partition');
    assert.equal(
      sts().metadata.annotations?.[ROLL_ANNOTATION],
      '{"partition":0,"replicas":2,"previous":{"app":{}},"written":{"cpu":"500m"}}',
    );
    assert.deepEqual(pods().slice(0, 2), ['web-0 -', 'web-1 -'], 'a pod was recreated before the 202');
    await until(() => rolled(server, '500m', 0), 30_000, 'the roll finished, the partition restored');
    assert.ok(
      Math.min(...server.readyHistory) >= 2,
      `ready pods went down to ${Math.min(...server.readyHistory)}`,
    );
  });

  it('a controller stopped after the 202: the next one to start finishes the roll and restores the user partition', async (t) => {
    const { server, api, provider, sts, pods } = await slowStatefulSet(t);
    // The user's own partition (pods below it held back from template changes), to be restored.
    sts().spec.updateStrategy.rollingUpdate.partition = 1;
    const res = await resize(api, { cpu: 0.25 });
    assert.equal(res.status, 202, res.text);
    await provider.close();
    assert.equal(
      sts().metadata.annotations?.[ROLL_ANNOTATION],
      '{"partition":1,"replicas":2,"previous":{"app":{}},"written":{"cpu":"250m"}}',
    );
    // Left alone, the StatefulSet controller rolls nothing: every pod's ordinal is below the partition.
    assert.deepEqual(pods().slice(0, 2), ['web-0 -', 'web-1 -']);
    server.readyHistory.length = 0;
    const successor = kubernetesProvider(server, 'StatefulSet');
    t.after(() => successor.close());
    await successor.start();
    assert.equal(successor.desired(), 2, 'the extra replica counted as desired');
    await until(
      () => rolled(server, '250m', 1),
      30_000,
      'the roll finished by the successor, partition 1 restored',
    );
    assert.ok(
      Math.min(...server.readyHistory) >= 2,
      `ready pods went down to ${Math.min(...server.readyHistory)}`,
    );
    await until(
      () =>
        successor.instances().length === 2 &&
        successor.instances().every((i) => i.state === 'ready' && i.size?.cpu === 0.25),
      10_000,
      'the successor sees 2 Ready pods at the new size',
    );
    assert.equal(successor.desired(), 2);
  });
});

describe('resize-group on Kubernetes from a deposed leader', () => {
  it('the fence refuses the resize before the PATCH: a 503 saying it is not in effect, send it to the leader', async (t) => {
    const { api, stored } = await kubernetes(t, 'Deployment');
    lease.current = false;
    t.after(() => {
      lease.current = true;
    });
    const res = await resize(api, { cpu: 0.5 });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body.inEffect, false);
    assert.match(
      res.body.error,
      /^group "web": resize not stored: the resize stopped before the PATCH of Deployment shop\/web's pod template resources was made \(FENCED: resize refused: .*\), so it is not in effect: this controller was deposed: send it to the leader$/,
    );
    assert.equal(stored(), undefined);
  });
});

describe('resize-group on AWS: answered once the group has the new launch template version and its refresh', () => {
  it('the 202 comes after CreateLaunchTemplateVersion, UpdateAutoScalingGroup and StartInstanceRefresh', async (t) => {
    const { server, api } = await aws(t);
    const from = server.requests.length;
    const res = await resize(api, { size: 't3.large' });
    assert.equal(res.status, 202, res.text);
    assert.deepEqual(
      server.requests
        .slice(from)
        .map((r) => r.action)
        .filter((a) => /LaunchTemplateVersion|UpdateAutoScalingGroup|StartInstanceRefresh/.test(a)),
      ['CreateLaunchTemplateVersion', 'UpdateAutoScalingGroup', 'StartInstanceRefresh'],
      'answered 202 before the calls that make Auto Scaling roll on its own',
    );
    assert.ok(server.refresh, 'no instance refresh when the 202 came');
  });

  it('a launch template version not made within the bound is a 503 naming it, in effect', async (t) => {
    const { server, api } = await aws(t, 300);
    server.silent.add('CreateLaunchTemplateVersion');
    const res = await resize(api, { size: 't3.large' });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body.code, 'SCALEPLANE_NOT_STORED');
    assert.equal(res.body.inEffect, true);
    assert.match(
      res.body.error,
      /^group "web": resize is in effect on this controller but not stored: the new launch template version of Auto Scaling group web-asg \(CreateLaunchTemplateVersion, UpdateAutoScalingGroup, StartInstanceRefresh\) was not made within 300 ms/,
    );
    assert.equal(server.refresh, undefined);
  });

  it('a refused group update is a 503 saying the resize is not in effect, with the AWS error', async (t) => {
    const { server, api } = await aws(t);
    server.denied.add('UpdateAutoScalingGroup');
    const res = await resize(api, { size: 't3.large' });
    assert.equal(res.status, 503, res.text);
    assert.equal(res.body.code, 'SCALEPLANE_NOT_STORED');
    assert.equal(res.body.inEffect, false);
    assert.match(
      res.body.error,
      /^group "web": resize not stored: the resize stopped before the new launch template version/,
    );
    assert.match(res.body.error, /AccessDenied|not authorized/);
    assert.equal(server.refresh, undefined);
  });
});

/** resizeAnswer is resize's answer with its Retry-After header (null: none). */
async function resizeAnswer<P extends Provider>(api: ApiHarness<P>, body: object) {
  const res = await fetch(`${api.base}/api/scalability/resize-group`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ group: 'web', ...body }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: tests poke into JSON bodies
  return { status: res.status, body: (await res.json()) as any, retryAfter: res.headers.get('retry-after') };
}

describe('resize-group refused because another operation holds the group: 409, naming it', () => {
  it('AWS, an instance refresh started outside Scaleplane: 409 SCALEPLANE_BUSY naming the refresh, nothing written', async (t) => {
    const { server, api } = await aws(t);
    server.refresh = { id: 'ir-console', status: 'InProgress', min: 90, max: 100 };
    const from = server.requests.length;
    const res = await resize(api, { size: 't3.large' });
    // Before: 503 SCALEPLANE_NOT_STORED "… not in effect: repeat it", as if a write had failed.
    assert.equal(res.status, 409, res.text);
    assert.equal(res.body.code, 'SCALEPLANE_BUSY');
    assert.equal(res.body.operation, 'instance refresh ir-console of web-asg (InProgress)');
    assert.equal(res.body.inEffect, undefined);
    assert.match(
      res.body.error,
      /^group "web": resize refused: web-asg: instance refresh ir-console is InProgress: resize to t3\.large refused, nothing changed; try again once it has ended/,
    );
    // When the console's refresh ends is not known: no Retry-After, rather than a guess.
    const again = await resizeAnswer(api, { size: 't3.large' });
    assert.equal(again.status, 409);
    assert.equal(again.retryAfter, null);
    assert.deepEqual(
      server.requests.slice(from).filter((r) => !r.action.startsWith('Describe')),
      [],
      'nothing written',
    );
    assert.equal(server.refresh.status, 'InProgress', "the operator's refresh runs on");
  });

  it('a provider that knows when the operation ends: 409 with Retry-After', async (t) => {
    const provider = new MemoryProvider('web');
    // An engine-kept size (as Kubernetes and AWS), refused BUSY before its write.
    Object.assign(provider, {
      savesSize: true,
      sizeWrite: 'the size write',
      resize: async () => {
        throw new BusyError('web: draining web-1 for 90 s more', {
          operation: 'drain of web-1',
          retryAfterMs: 89_500,
        });
      },
    });
    const api = await startApi({ provider });
    t.after(() => api.close());
    const res = await resizeAnswer(api, { cpu: 0.5 });
    assert.equal(res.status, 409, JSON.stringify(res.body));
    assert.equal(res.body.code, 'SCALEPLANE_BUSY');
    assert.equal(res.body.operation, 'drain of web-1');
    assert.equal(res.retryAfter, '90', 'Retry-After in whole seconds, rounded up');
  });
});

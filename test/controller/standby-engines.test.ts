// A standby routes to the instances of Kubernetes and AWS groups: StandbyRouter with the real
// providers, driven by the official clients over HTTP against the fakes (test/providers/
// kube-server.ts, aws-server.ts; no cluster or AWS here). The fakes give pods and instances
// addresses nothing listens on (10.244.0.x, 10.0.1.x), so these tests check the membership the
// router hands to the balancer, with the health check injected; test/integration/
// ha-standby-engines.test.ts sends real traffic. A second client (the leader, its own token or
// access key) scales; every request carrying the standby's credentials is a read.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { StandbyRouter } from '../../src/controller/index.js';
import {
  AwsProvider,
  FencedProvider,
  type Instance,
  KubernetesProvider,
  type Provider,
  ProviderError,
} from '../../src/providers/index.js';
import { until } from '../helpers/until.js';
import { AwsServer } from '../providers/aws-server.js';
import { KubeServer, kubeConfig } from '../providers/kube-server.js';

const silent = { info() {}, warn() {}, error() {} };
const READS = new Set(['DescribeAutoScalingGroups', 'DescribeInstances', 'DescribeScalingActivities']);

function awsClients(endpoint: string, accessKeyId: string) {
  const common = { region: 'us-east-1', endpoint, credentials: { accessKeyId, secretAccessKey: 'secret' } };
  return { autoScaling: new AutoScalingClient(common), ec2: new EC2Client(common) };
}

/**
 * standby wires what HighAvailability does for one engine group: the provider fenced (no token:
 * standing by), a router over it with an injected health check (hosts in `failing` fail), and an
 * invariant checked on every change the provider reports, after the router saw it: everything the
 * router hands the balancer is an instance the engine lists Ready at that address.
 */
function standby(t: TestContext, inner: Provider) {
  let leaseToken = 0;
  const fenced = new FencedProvider(inner, async (token) => token === leaseToken);
  const probes: string[] = [];
  const failing = new Set<string>();
  const router = new StandbyRouter({
    groups: [{ name: 'web', source: 'provider', healthPath: '/healthz' }],
    provider: () => fenced,
    onChange: () => {},
    logger: silent,
    interval: 30,
    probe: async (host, port, path) => {
      probes.push(`${host}:${port}${path}`);
      return !failing.has(host);
    },
  });
  t.after(() => router.close());
  t.after(() => fenced.close());
  // What the balancer sends requests to: the members it is given as ready (see balancer/pool.ts).
  const routed = () => router.routable('web', fenced.instances()).filter((r) => r.state === 'ready');
  const violations: string[] = [];
  let checking = true;
  const check = () => {
    if (!checking) return;
    const ready = new Map(
      fenced.instances().flatMap((i) => (i.state === 'ready' ? [[i.id, i.address]] : [])),
    );
    for (const r of routed())
      if (ready.get(r.id) !== r.address)
        violations.push(`${r.id} routed while ${describeState(fenced, r.id)}`);
  };
  return {
    fenced,
    router,
    /** standBy stands by, then checks the invariant on every change (after the router's own listener). */
    standBy: async () => {
      await router.standBy(() => []);
      fenced.on('change', check);
    },
    probes,
    failing,
    violations,
    routedIds: () =>
      routed()
        .map((r) => r.id)
        .sort(),
    stopChecking: () => {
      checking = false;
    },
    win: (token: number) => {
      leaseToken = token;
      fenced.setToken(token);
    },
  };
}

function describeState(provider: Provider, id: string): string {
  const i = provider.instances().find((x) => x.id === id);
  return i ? `${i.state} at ${i.address}` : 'gone';
}

const readyIds = (instances: readonly Instance[]) =>
  instances
    .filter((i) => i.state === 'ready')
    .map((i) => i.id)
    .sort();

describe('standby routing: kubernetes group', () => {
  it('routes to the Ready pods it watches read-only, follows scaling, drops terminating pods at once, never writes, and takes over without a gap', async (t) => {
    const server = new KubeServer({ podReadyMs: 20 });
    await server.start();
    t.after(() => server.close());
    server.addWorkload('Deployment', 'shop', 'web', 2);
    const config = {
      provider: 'kubernetes' as const,
      namespace: 'shop',
      name: 'web',
      kind: 'Deployment' as const,
      port: 8080,
      mode: 'hpa' as const,
    };
    // A scale that cannot finish fails in seconds, naming itself, instead of waiting 10 minutes.
    const options = {
      group: 'web',
      config,
      minInstances: 1,
      maxInstances: 6,
      rewatchDelay: 20,
      timeout: 10_000,
    };
    const leader = new KubernetesProvider({
      ...options,
      client: { kubeConfig: kubeConfig(server.url, 'leader') },
    });
    t.after(() => leader.close());
    await leader.start();
    await leader.scaleTo(2);
    const s = standby(
      t,
      new KubernetesProvider({ ...options, client: { kubeConfig: kubeConfig(server.url, 'standby') } }),
    );

    await s.standBy();
    assert.deepEqual(
      s.routedIds().sort(),
      readyIds(leader.instances()),
      'the standby routes to both Ready pods',
    );
    assert.equal(s.routedIds().length, 2);
    for (const i of s.fenced.instances())
      assert.ok(s.probes.includes(`${i.address}/healthz`), `${i.id} joined after a health check`);

    // Scale-out by the leader: the next pods get 10.244.0.4 and .5; .4 fails its health check first.
    s.failing.add('10.244.0.4');
    await leader.scaleTo(4);
    await until(() => s.routedIds().length === 3, 5000, 'the standby routes to the new pod that passed');
    const held = s.fenced.instances().find((i) => i.address.startsWith('10.244.0.4:'));
    assert.ok(held && held.state === 'ready', 'the pod that fails its health check is Ready in Kubernetes');
    assert.ok(!s.routedIds().includes(held.id), 'but not routed to');
    s.failing.delete('10.244.0.4');
    await until(() => s.routedIds().length === 4, 5000, 'it joins once a health check passes');

    // Scale-in: the pods Kubernetes terminates (deletionTimestamp) leave on the watch event itself.
    await leader.scaleTo(1);
    await until(() => s.routedIds().length === 1, 5000, 'the standby follows the scale-in');
    assert.ok(
      server.requests.some((r) => r.token === 'leader' && r.method === 'PATCH'),
      'the leader did scale',
    );
    assert.deepEqual(s.violations, [], 'nothing was routed that Kubernetes did not list Ready');

    // A standby's change is refused before it reaches the API server.
    // (Counted without GETs: both providers read the replicas after pod events, in the background.)
    const writes = () => server.requests.filter((r) => r.method !== 'GET').length;
    const before = writes();
    await assert.rejects(
      s.fenced.scaleTo(3),
      (err: unknown) => err instanceof ProviderError && err.code === 'FENCED',
    );
    assert.equal(writes(), before);

    const mine = server.requests.filter((r) => r.token === 'standby');
    assert.ok(
      mine.some((r) => r.query.watch === 'true'),
      'the standby watched the pods',
    );
    assert.deepEqual(
      mine.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`),
      [],
      'the standby made no write request',
    );
    const listsBefore = mine.filter((r) => r.path.endsWith('/pods') && r.query.watch !== 'true').length;

    // Takeover: the same provider becomes the full one (writes the HPA in hpa mode) on the same watch.
    await leader.close();
    const gaps: number[] = [];
    s.fenced.on('change', () => {
      if (s.routedIds().length === 0) gaps.push(Date.now());
    });
    s.stopChecking();
    s.win(7);
    s.router.takeOver();
    assert.equal(s.routedIds().length, 1, 'in rotation the moment the lease is won');
    const taking = server.requests.length;
    await s.fenced.start();
    assert.equal(s.routedIds().length, 1, 'in rotation while the provider starts');
    s.router.lead();
    assert.deepEqual(s.routedIds(), readyIds(s.fenced.instances()));
    assert.deepEqual(gaps, [], 'no change left the balancer empty');
    const after = server.requests.slice(taking);
    assert.deepEqual(
      after.filter((r) => r.method !== 'GET').map((r) => `${r.token} ${r.method} ${r.path}`),
      ['standby PUT /apis/autoscaling/v2/namespaces/shop/horizontalpodautoscalers/web'],
      'as leader it writes the HPA',
    );
    assert.equal(
      server.requests.filter(
        (r) => r.token === 'standby' && r.path.endsWith('/pods') && r.query.watch !== 'true',
      ).length,
      listsBefore,
      'and keeps the watch it had: no new list',
    );
    await s.fenced.scaleTo(2);
    assert.deepEqual(s.routedIds(), readyIds(s.fenced.instances()));
    assert.equal(s.routedIds().length, 2);
  });
});

describe('standby routing: aws group', () => {
  it('routes to the InService instances it polls read-only, follows scaling, drops Standby and Terminating ones, never writes, and takes over without a gap', async (t) => {
    const server = new AwsServer({ launchMs: 20 });
    await server.start();
    t.after(() => server.close());
    server.addInstances(2);
    const config = {
      provider: 'aws' as const,
      autoScalingGroup: 'web-asg',
      port: 8080,
      instanceWarmup: 0,
      minHealthyPercentage: 50,
      pollInterval: 25,
    };
    // A scale that cannot finish fails in seconds, naming itself, instead of waiting 30 minutes.
    const options = { group: 'web', config, minInstances: 1, maxInstances: 6, timeout: 10_000 };
    const leader = new AwsProvider({ ...options, clients: awsClients(server.url, 'LEADER') });
    t.after(() => leader.close());
    await leader.start();
    const s = standby(t, new AwsProvider({ ...options, clients: awsClients(server.url, 'STANDBY') }));

    await s.standBy();
    assert.deepEqual(s.routedIds().sort(), readyIds(leader.instances()));
    assert.equal(s.routedIds().length, 2);
    for (const i of s.fenced.instances())
      assert.ok(s.probes.includes(`${i.address}/healthz`), `${i.id} joined after a health check`);

    await leader.scaleTo(3);
    await until(() => s.routedIds().length === 3, 5000, 'the standby follows the scale-out');

    // An instance put in Standby (as a resize in place does) leaves; back InService, it rejoins.
    const [first] = s.routedIds().sort();
    server.instances.get(first!)!.lifecycle = 'Standby';
    await until(() => !s.routedIds().includes(first!), 5000, 'the instance in Standby leaves');
    server.instances.get(first!)!.lifecycle = 'InService';
    await until(() => s.routedIds().includes(first!), 5000, 'back InService, it rejoins');

    // Scale-in: the leader terminates two; each leaves once the standby sees it Terminating.
    await leader.scaleTo(1);
    await until(() => s.routedIds().length === 1, 5000, 'the standby follows the scale-in');
    assert.deepEqual(s.violations, [], 'nothing was routed that Auto Scaling did not list InService');

    const before = server.requests.length;
    await assert.rejects(
      s.fenced.scaleTo(3),
      (err: unknown) => err instanceof ProviderError && err.code === 'FENCED',
    );
    assert.equal(server.requests.length, before, 'a refused change sends nothing');

    const mine = server.requests.filter((r) => r.accessKey === 'STANDBY');
    assert.ok(mine.length > 0, 'mine.length > 0');
    assert.deepEqual(
      [...new Set(mine.filter((r) => !READS.has(r.action)).map((r) => r.action))],
      [],
      'the standby made no write request',
    );
    assert.ok(
      server.requests.some(
        (r) => r.accessKey === 'LEADER' && r.action === 'TerminateInstanceInAutoScalingGroup',
      ),
      'the leader did scale in',
    );

    await leader.close();
    const gaps: number[] = [];
    s.fenced.on('change', () => {
      if (s.routedIds().length === 0) gaps.push(Date.now());
    });
    s.stopChecking();
    s.win(3);
    s.router.takeOver();
    assert.equal(s.routedIds().length, 1);
    await s.fenced.start();
    assert.equal(s.routedIds().length, 1);
    s.router.lead();
    await s.fenced.scaleTo(2);
    assert.deepEqual(s.routedIds(), readyIds(s.fenced.instances()));
    assert.equal(s.routedIds().length, 2);
    assert.deepEqual(gaps, []);
    assert.ok(
      server.requests.some((r) => r.accessKey === 'STANDBY' && r.action === 'SetDesiredCapacity'),
      'as leader, the same provider scales',
    );
  });

  it('a standby started in front of a group serving for an hour routes to its instances at once, not instance_warmup later', async (t) => {
    const server = new AwsServer();
    await server.start();
    t.after(() => server.close());
    const hourAgo = Date.now() - 3_600_000;
    server.addInstances(2, { launchedAt: hourAgo, inServiceAt: hourAgo + 40_000 });
    const config = {
      provider: 'aws' as const,
      autoScalingGroup: 'web-asg',
      port: 8080,
      instanceWarmup: 60_000,
      minHealthyPercentage: 50,
      pollInterval: 25,
    };
    const options = { group: 'web', config, minInstances: 1, maxInstances: 6, timeout: 10_000 };
    const s = standby(t, new AwsProvider({ ...options, clients: awsClients(server.url, 'STANDBY') }));
    const started = Date.now();
    await s.standBy();
    assert.deepEqual(s.routedIds(), [...server.instances.keys()].sort());
    t.diagnostic(`routing to both ${Date.now() - started} ms after standing by (instance_warmup 60 s)`);
    assert.deepEqual(
      [...new Set(server.requests.map((r) => r.action))].sort(),
      [...READS].sort(),
      'it read when they came InService (DescribeScalingActivities), and wrote nothing',
    );
    assert.equal(server.requests.filter((r) => r.action === 'DescribeScalingActivities').length, 1);
  });
});

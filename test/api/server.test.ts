import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FencedProvider } from '../../src/providers/index.js';
import { READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';
import { MemoryProvider } from '../helpers/memory-provider.js';

async function startServer() {
  const api = await startApi();
  const scale = (body: unknown, token?: string | null) =>
    api.call('/api/scalability/scale-group', {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      ...(token !== undefined && { token }),
    });
  return { ...api, scale };
}

describe('control API', () => {
  let api: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    api = await startServer();
  });
  after(() => api.close());

  it('scale-out adds instances and answers previous/desired', async () => {
    const res = await api.scale({ group: 'web', action: 'scale-out', instances: 2 });
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, { group: 'web', previous: 1, desired: 3 });
    assert.equal(api.provider.desired(), 3);
    const status = await api.call('/api/scalability/groups/web');
    assert.equal(status.status, 200);
    assert.equal(status.body.desired, 3);
    assert.equal(status.body.instances.length, 3);
    assert.deepEqual(api.journal.last('web')?.reasons, ['ManualScale']);
  });

  it('scale-in and set', async () => {
    assert.deepEqual((await api.scale({ group: 'web', action: 'scale-in', instances: 1 })).body, {
      group: 'web',
      previous: 3,
      desired: 2,
    });
    assert.deepEqual((await api.scale({ group: 'web', action: 'set', instances: 4 })).body, {
      group: 'web',
      previous: 2,
      desired: 4,
    });
  });

  const refusals: {
    name: string;
    body: unknown;
    token?: string | null;
    status: number;
    mentions?: string;
  }[] = [
    { name: 'no header', body: { group: 'web', action: 'set', instances: 2 }, token: null, status: 401 },
    { name: 'wrong token', body: { group: 'web', action: 'set', instances: 2 }, token: 'nope', status: 401 },
    {
      name: 'token prefix',
      body: { group: 'web', action: 'set', instances: 2 },
      token: TOKEN.slice(0, -1),
      status: 401,
    },
    {
      name: 'unknown group',
      body: { group: 'db', action: 'set', instances: 2 },
      status: 404,
      mentions: 'unknown group "db" \\(groups: web\\)',
    },
    { name: 'beyond max', body: { group: 'web', action: 'scale-out', instances: 9 }, status: 409 },
    { name: 'below min', body: { group: 'web', action: 'set', instances: 0 }, status: 409 },
    { name: 'malformed JSON', body: '{"group": "web",', status: 400, mentions: 'body' },
    {
      name: 'wrong type',
      body: { group: 'web', action: 'set', instances: '3' },
      status: 400,
      mentions: 'instances',
    },
    {
      name: 'fraction',
      body: { group: 'web', action: 'set', instances: 2.5 },
      status: 400,
      mentions: 'instances',
    },
    {
      name: 'bad action',
      body: { group: 'web', action: 'grow', instances: 1 },
      status: 400,
      mentions: 'action',
    },
    {
      name: 'unknown field',
      body: { group: 'web', action: 'set', instances: 1, force: true },
      status: 400,
      mentions: 'force',
    },
    { name: 'set without count', body: { group: 'web', action: 'set' }, status: 400, mentions: 'instances' },
    // A missing field says so, as the config does: it read `group: Invalid input: expected string,
    // received undefined` and `action: Invalid option: expected one of …`.
    { name: 'no group', body: { action: 'set', instances: 1 }, status: 400, mentions: '^group: required$' },
    {
      name: 'no action',
      body: { group: 'web', instances: 1 },
      status: 400,
      mentions: '^action: required \\(one of scale-out, scale-in, set\\)$',
    },
    { name: 'not an object', body: '[1,2]', status: 400, mentions: 'body' },
  ];
  for (const r of refusals) {
    it(`refuses ${r.name} with ${r.status} and changes nothing`, async () => {
      const before = api.provider.calls.length;
      const desired = api.provider.desired();
      const res = await api.scale(r.body, r.token);
      assert.equal(res.status, r.status);
      assert.equal(typeof res.body.error, 'string');
      if (r.mentions) assert.match(res.body.error, new RegExp(r.mentions));
      assert.equal(api.provider.calls.length, before);
      assert.equal(api.provider.desired(), desired);
    });
  }

  it('refuses a body over 64 KiB with 413', async () => {
    const res = await api.scale({ group: 'web', action: 'set', instances: 1, pad: 'x'.repeat(70_000) });
    assert.equal(res.status, 413);
  });

  it('serves /metrics to a token and /healthz without one', async () => {
    const metrics = await api.call('/metrics', { token: READ_TOKEN });
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /scaleplane_group_desired_instances\{group="web"\} \d/);
    assert.equal((await api.call('/healthz', { token: null })).status, 200);
  });

  it('refuses /metrics without a token (401), unless public metrics are configured', async (t) => {
    const refused = await api.call('/metrics', { token: null });
    assert.equal(refused.status, 401);
    assert.equal(typeof refused.body.error, 'string');
    const open = await startApi({ server: { publicMetrics: true } });
    t.after(open.close);
    const metrics = await open.call('/metrics', { token: null });
    assert.equal(metrics.status, 200);
    assert.match(metrics.body, /scaleplane_group_desired_instances/);
  });

  it('refuses a since past the newest seq (a journal numbered afresh) with 410, not an empty page', async (t) => {
    // A poller kept the last seq of a controller that then restarted without a state store: the new
    // journal numbers from 1 again, and an empty page hid every decision until its seqs caught up.
    const before = await startApi();
    t.after(before.close);
    for (let n = 2; n <= 6; n++)
      before.journal.append(
        {
          group: 'web',
          source: 'api',
          before: n - 1,
          after: n,
          reasons: ['ManualScale'],
          message: `${n - 1} → ${n}`,
          inputs: {},
        },
        0,
      );
    const polled = await before.call('/api/scalability/events');
    const kept = polled.body.events.at(-1).seq;
    const restarted = await startApi();
    t.after(restarted.close);
    const all = await restarted.call('/api/scalability/events');
    const newest = all.body.events.at(-1).seq;
    assert.ok(newest < kept, `the restarted journal's newest seq ${newest} is below the poller's ${kept}`);
    const page = await restarted.call(`/api/scalability/events?since=${kept}`);
    console.log(
      `since=${kept} on a journal whose newest seq is ${newest}: ${page.status} ${JSON.stringify(page.body)}`,
    );
    assert.equal(page.status, 410);
    assert.equal(page.body.code, 'SCALEPLANE_JOURNAL_RESTARTED');
    assert.match(
      page.body.error,
      new RegExp(`^since: ${kept} is past the newest entry of this journal \\(seq ${newest}\\)`),
    );
    // Its own newest seq is no error: nothing new yet.
    assert.deepEqual((await restarted.call(`/api/scalability/events?since=${newest}`)).body, { events: [] });
  });

  it('lists events, filtered by group and since', async () => {
    const all = await api.call('/api/scalability/events');
    assert.equal(all.status, 200);
    assert.ok(all.body.events.length >= 3, 'all.body.events.length >= 3');
    const last = all.body.events.at(-1).seq;
    const none = await api.call(`/api/scalability/events?since=${last}`);
    assert.deepEqual(none.body.events, []);
    assert.equal((await api.call('/api/scalability/events?since=-1')).status, 400);
    // The newest N; 0 is none (it was every entry kept).
    const two = await api.call('/api/scalability/events?limit=2');
    assert.deepEqual(
      two.body.events.map((e: { seq: number }) => e.seq),
      all.body.events.slice(-2).map((e: { seq: number }) => e.seq),
    );
    assert.deepEqual((await api.call('/api/scalability/events?limit=0')).body.events, []);
  });

  it('events: since and limit are digits; an empty, hex or exponent value is a 400 naming it', async () => {
    for (const query of [
      'limit=',
      'limit=0x10',
      'limit=1e3',
      'limit=%205',
      'limit=5.0',
      'since=',
      'since=-1',
    ]) {
      const res = await api.call(`/api/scalability/events?${query}`);
      const name = query.split('=')[0];
      assert.deepEqual(
        [res.status, res.body],
        [400, { error: `${name}: must be a non-negative integer` }],
        query,
      );
    }
    assert.equal((await api.call('/api/scalability/events?limit=007')).status, 200);
  });

  // A blank filter field sent as `group=` matched no entry and answered an empty journal.
  it('events: an empty group is a 400 naming it, not an empty journal', async () => {
    const res = await api.call('/api/scalability/events?group=');
    assert.deepEqual([res.status, res.body], [400, { error: 'group: must not be empty' }]);
    assert.equal((await api.call('/api/scalability/events?group=web')).status, 200);
  });

  it('answers unknown routes and methods with JSON errors', async () => {
    assert.equal((await api.call('/api/scalability/nope')).status, 404);
    assert.equal((await api.call('/api/scalability/groups', { method: 'DELETE' })).status, 405);
    assert.equal((await api.call('/api/scalability/groups/db')).status, 404);
  });
});

describe('resize-group refuses a size the provider has no knob for', () => {
  // An instance type on local processes used to be accepted (202): every instance was replaced
  // for nothing and lost its cgroup limits. CPU on AWS was accepted and then failed in the log.
  const cases: {
    kind: string;
    resizes: readonly string[];
    body: Record<string, unknown>;
    status: number;
    mentions?: RegExp;
  }[] = [
    {
      kind: 'local',
      resizes: ['cpu', 'memory'],
      body: { size: 't3.large' },
      status: 400,
      mentions: /^size: the local provider resizes cpu and memory only$/,
    },
    {
      kind: 'local',
      resizes: ['cpu', 'memory'],
      body: { cpu: 0.5, size: 't3.large' },
      status: 400,
      mentions: /^size:/,
    },
    { kind: 'local', resizes: ['cpu', 'memory'], body: { cpu: 0.5, memory: '256Mi' }, status: 202 },
    {
      kind: 'kubernetes',
      resizes: ['cpu', 'memory'],
      body: { size: 'large' },
      status: 400,
      mentions: /^size: the kubernetes provider/,
    },
    {
      kind: 'aws',
      resizes: ['instanceType'],
      body: { cpu: 2 },
      status: 400,
      mentions: /^cpu: the aws provider resizes size \(an instance type\) only$/,
    },
    { kind: 'aws', resizes: ['instanceType'], body: { memory: '8Gi' }, status: 400, mentions: /^memory:/ },
    { kind: 'aws', resizes: ['instanceType'], body: { size: 't3.large' }, status: 202 },
  ];
  for (const c of cases) {
    it(`${c.kind} ${JSON.stringify(c.body)} → ${c.status}`, async (t) => {
      const api = await startApi({ resizable: true });
      t.after(api.close);
      let resized = 0;
      Object.assign(api.provider, {
        kind: c.kind,
        resizes: c.resizes,
        resize: async () => {
          resized++;
        },
      });
      const journalled = api.journal.entries().length;
      const res = await api.call('/api/scalability/resize-group', {
        method: 'POST',
        body: JSON.stringify({ group: 'web', ...c.body }),
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(res.status, c.status, res.text);
      if (c.status === 202) {
        assert.equal(resized, 1);
        return;
      }
      assert.match(res.body.error, c.mentions!);
      assert.equal(resized, 0, 'the provider was not asked to resize');
      assert.equal(api.journal.entries().length, journalled, 'nothing journaled');
    });
  }
});

describe('resize-group says when nothing keeps the size across a restart', () => {
  // A local group without controller.state loses a resize on restart (its instances start again at
  // the config's resources). Before, the 202 read the same with or without a state store.
  for (const savesSize of [false, true]) {
    it(
      savesSize ? 'a provider that keeps it: no warning' : 'local without controller.state: a warning',
      async (t) => {
        const api = await startApi({ resizable: true });
        t.after(api.close);
        Object.assign(api.provider, {
          kind: 'local',
          resizes: ['cpu', 'memory'],
          savesSize,
          resize: async (_size: unknown, options?: { onSizeSaved?: (write: Promise<void>) => void }) => {
            options?.onSizeSaved?.(Promise.resolve());
          },
        });
        const res = await api.call('/api/scalability/resize-group', {
          method: 'POST',
          body: JSON.stringify({ group: 'web', cpu: 0.5 }),
          headers: { 'content-type': 'application/json' },
        });
        assert.equal(res.status, 202, res.text);
        const entry = api.journal
          .entries()
          .filter((e) => e.reasons.includes('ManualResize'))
          .at(-1);
        if (savesSize) {
          assert.equal(res.body.warning, undefined, `warned for a size that is kept: ${res.text}`);
          assert.doesNotMatch(entry?.message ?? '', /not kept/, entry?.message);
          return;
        }
        assert.match(
          res.body.warning ?? '',
          /^not kept across a restart: without controller\.state, .*groups\.web\.resources/,
          `no warning in ${res.text}`,
        );
        assert.match(entry?.message ?? '', /not kept across a restart/, `journal: ${entry?.message}`);
      },
    );
  }
});

describe('resize-group refuses a size the provider says it cannot apply here', () => {
  // A local group where this controller may create no cgroup (not root, no v2 delegation) was
  // answered 202; every replacement then failed to start, a crash loop, and RESIZE_FAILED later.
  it("400 with the provider's reason, nothing journaled or resized", async (t) => {
    const api = await startApi({ resizable: true });
    t.after(api.close);
    let resized = 0;
    const reason = 'resize: needs cgroups writable by this process: EACCES';
    Object.assign(api.provider, {
      kind: 'local',
      resizes: ['cpu', 'memory'],
      resizeRefusal: () => reason,
      resize: async () => {
        resized++;
      },
    });
    const journalled = api.journal.entries().length;
    const res = await api.call('/api/scalability/resize-group', {
      method: 'POST',
      body: JSON.stringify({ group: 'web', memory: '256Mi' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 400, `answered ${res.status}: ${res.text}`);
    assert.equal(res.body.error, reason, "the error is not the provider's reason");
    assert.equal(resized, 0, 'the provider was asked to resize');
    assert.equal(api.journal.entries().length, journalled, 'the refused resize was journaled');
  });
});

describe('resize-group behind the HA fence', () => {
  // With controller.state every provider is wrapped in a FencedProvider, which did not pass
  // `resizes` through: an instance type on a local group was answered 202 and then failed.
  it('refuses a knob the wrapped provider lacks (400), nothing resized', async (t) => {
    const inner = new MemoryProvider('web');
    let resized = 0;
    Object.assign(inner, {
      kind: 'local',
      resizes: ['cpu', 'memory'],
      resize: async () => {
        resized++;
      },
    });
    const fenced = new FencedProvider(inner, async () => true);
    fenced.setToken(1);
    const api = await startApi({ provider: fenced });
    t.after(api.close);
    const res = await api.call('/api/scalability/resize-group', {
      method: 'POST',
      body: JSON.stringify({ group: 'web', size: 't3.large' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 400, `answered ${res.status}: ${res.text}`);
    assert.match(res.body.error, /^size: the local provider resizes cpu and memory only$/);
    assert.equal(resized, 0, 'the provider was asked to resize');
  });
});

describe('resize-group reads cpu as cores or millicores only', () => {
  // Number() used to read "0x10" as 16 cores and "1e3" as 1000, and 1e-9 cores passed: a typo
  // (or an agent's guess) became a very different size on every instance.
  const cases: { cpu: unknown; cores?: number }[] = [
    { cpu: 0.5, cores: 0.5 },
    { cpu: '2', cores: 2 },
    { cpu: '2.5', cores: 2.5 },
    { cpu: '.5', cores: 0.5 },
    { cpu: '500m', cores: 0.5 },
    { cpu: '1m', cores: 0.001 },
    { cpu: '0x10' },
    { cpu: '1e3' },
    { cpu: ' 2' },
    { cpu: 'Infinity' },
    { cpu: '-1' },
    { cpu: '0m' },
    { cpu: 1e-9 },
    { cpu: 0 },
  ];
  for (const c of cases) {
    it(`cpu ${JSON.stringify(c.cpu)} → ${c.cores === undefined ? '400' : `${c.cores} cores`}`, async (t) => {
      const api = await startApi({ resizable: true });
      t.after(api.close);
      const res = await api.call('/api/scalability/resize-group', {
        method: 'POST',
        body: JSON.stringify({ group: 'web', cpu: c.cpu }),
      });
      if (c.cores === undefined) {
        assert.equal(res.status, 400, res.text);
        assert.equal(res.body.error, 'cpu: expected cores such as 0.5 or "500m" (at least 1m, 0.001)');
        return;
      }
      assert.equal(res.status, 202, res.text);
      assert.deepEqual(res.body.size, { cpu: c.cores });
    });
  }
});

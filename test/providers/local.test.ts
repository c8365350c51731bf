import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { GroupConfig } from '../../src/config/types.js';
import { createProvider, type Instance, LocalProvider, ProviderError } from '../../src/providers/index.js';
import { TIMER_SLACK_MS } from '../helpers/until.js';
import { alive, groupMembers, httpGet, makeProvider, recordingLogger, until } from './local-helpers.js';

const ready = (p: LocalProvider) => p.instances().filter((i) => i.state === 'ready');

test('scaleTo(3) gives 3 ready instances on distinct ports that answer HTTP', async (t) => {
  const provider = makeProvider(t);
  await provider.scaleTo(3);
  const instances = provider.instances();
  assert.equal(provider.desired(), 3);
  assert.deepEqual(
    instances.map((i) => i.state),
    ['ready', 'ready', 'ready'],
  );
  assert.equal(new Set(instances.map((i) => i.address)).size, 3);
  assert.equal(new Set(instances.map((i) => i.id)).size, 3);
  for (const instance of instances) {
    assert.ok(instance.pid && alive(instance.pid), 'instance.pid && alive(instance.pid)');
    const port = instance.address.split(':')[1];
    assert.deepEqual(await httpGet(instance.address, '/'), { status: 200, body: `port ${port}` });
  }
});

test('an instance becomes ready only once its health path answers', async (t) => {
  const provider = makeProvider(t, { env: { LISTEN_DELAY_MS: '800' } });
  const scaled = provider.scaleTo(1);
  // Listed at once, starting; its port and process come a moment later.
  await until(provider, () => provider.instances()[0]?.pid !== undefined);
  const [starting] = provider.instances();
  assert.equal(starting?.state, 'starting');
  await assert.rejects(httpGet(starting.address, '/healthz'), { code: 'ECONNREFUSED' });
  await scaled;
  const [instance] = provider.instances();
  assert.equal(instance?.state, 'ready');
  assert.ok(
    instance.readyAt! - instance.startedAt >= 800,
    `ready after ${instance.readyAt! - instance.startedAt} ms`,
  );
});

test('scale-in drains the newest instance before SIGTERM, and its processes are gone after', async (t) => {
  const events: string[] = [];
  let sigterm: () => void;
  const gotSigterm = new Promise<void>((resolve) => {
    sigterm = resolve;
  });
  let slow: Promise<{ status: number; body: string }> | undefined;
  const logger = recordingLogger((line) => {
    if (line.msg === 'got SIGTERM') {
      events.push(`sigterm ${line.fields.instance}`);
      sigterm();
    }
  });
  const drained: Instance[] = [];
  const provider = makeProvider(
    t,
    {},
    {
      logger,
      drain: async (instance) => {
        drained.push(instance);
        events.push(`drain-start ${instance.id} ${instance.state}`);
        // Like the balancer: resolve when the request in flight on this instance is done.
        await slow;
        events.push(`drain-end ${instance.id}`);
      },
    },
  );
  await provider.scaleTo(2);
  const [oldest, newest] = provider.instances();
  assert.ok(oldest && newest, 'oldest && newest');
  const members = groupMembers([newest.pid!]);
  // The shell execs the one command: the leader is the app itself.
  assert.ok(members.length >= 1, 'the app');
  const states: string[] = [];
  provider.on('change', () => {
    const state = provider.instances().find((i) => i.id === newest.id)?.state ?? 'removed';
    if (states.at(-1) !== state) states.push(state);
  });

  slow = httpGet(newest.address, '/slow?ms=400');
  await provider.scaleTo(1);

  assert.deepEqual(await slow, { status: 200, body: 'slow done' });
  await gotSigterm;
  assert.deepEqual(events, [
    `drain-start ${newest.id} draining`,
    `drain-end ${newest.id}`,
    `sigterm ${newest.id}`,
  ]);
  assert.deepEqual(states, ['draining', 'stopping', 'removed']);
  assert.deepEqual(
    provider.instances().map((i) => i.id),
    [oldest.id],
  );
  assert.deepEqual(members.filter(alive), []);
  assert.equal(drained.length, 1);
});

test('an instance that ignores SIGTERM is SIGKILLed after stopTimeout', async (t) => {
  const logger = recordingLogger();
  const provider = makeProvider(t, { env: { IGNORE_SIGTERM: '1' }, stopTimeout: 300 }, { logger });
  await provider.scaleTo(1);
  const pid = provider.instances()[0]!.pid!;
  const members = groupMembers([pid]);
  const started = Date.now();
  await provider.scaleTo(0);
  assert.ok(Date.now() - started >= 300 - TIMER_SLACK_MS, `stopped after ${Date.now() - started} ms`);
  assert.deepEqual(provider.instances(), []);
  assert.deepEqual(members.filter(alive), []);
  assert.ok(
    logger.lines.some((l) => l.msg === 'got SIGTERM'),
    "logger.lines.some((l) => l.msg === 'got SIGTERM')",
  );
  assert.ok(
    logger.lines.some((l) => l.level === 'warn' && /SIGKILL/.test(l.msg)),
    "logger.lines.some((l) => l.level === 'warn' && /SIGKILL/.test(l.msg))",
  );
});

test('a crashed instance is reported and replaced', async (t) => {
  const provider = makeProvider(t);
  await provider.scaleTo(2);
  const [victim] = provider.instances();
  // The shell exec'd the command: the instance's pid is the app's.
  const app = victim!.pid!;

  const crashed = once(provider, 'crash');
  process.kill(app, 'SIGKILL');
  const [instance, detail] = (await crashed) as [Instance, { signal: NodeJS.Signals | null }];
  assert.equal(instance.id, victim!.id);
  assert.equal(instance.state, 'failed');
  assert.equal(detail.signal, 'SIGKILL');

  await until(
    provider,
    () => ready(provider).length === 2 && !provider.instances().some((i) => i.id === victim!.id),
  );
  assert.equal(provider.desired(), 2);
  assert.equal(alive(victim!.pid!), false);
});

test('a crash loop emits crashLoop once and stops replacing until the next scaleTo', async (t) => {
  const provider = makeProvider(t, { env: { CRASH_AT_START: '1' }, crashLoopLimit: 2 });
  let crashes = 0;
  let loops = 0;
  provider.on('crash', () => crashes++);
  provider.on('crashLoop', () => loops++);
  const loop = once(provider, 'crashLoop');
  await provider.scaleTo(1); // resolves once the first start failed
  const [detail] = (await loop) as [{ group: string; crashes: number; windowMs: number }];
  assert.deepEqual(detail, { group: 'web', crashes: 3, windowMs: 60_000 });
  await until(provider, () => provider.instances().length === 0);

  let started = 0;
  provider.on('change', () => {
    if (provider.instances().some((i) => i.state === 'starting')) started++;
  });
  // Proving an absence needs a window: 3x the longest backoff this test configures.
  await delay(1_200);
  assert.equal(started, 0);
  assert.equal(crashes, 3);
  assert.equal(loops, 1);

  // The next scaleTo lifts the pause: one more attempt, which crashes and pauses again.
  const again = once(provider, 'crashLoop');
  await provider.scaleTo(1);
  await again;
  assert.ok(started > 0, 'started > 0');
  assert.equal(crashes, 4);
});

test('an instance that never answers within startTimeout fails, is stopped and counts as a crash', async (t) => {
  const provider = makeProvider(t, {
    env: { LISTEN_DELAY_MS: '60000' },
    startTimeout: 400,
    crashLoopLimit: 0,
  });
  const crashed = once(provider, 'crash');
  const loop = once(provider, 'crashLoop');
  const scaled = provider.scaleTo(1);
  await until(provider, () => provider.instances()[0]?.pid !== undefined);
  const pgid = provider.instances()[0]!.pid!;
  const [instance, detail] = (await crashed) as [Instance, unknown];
  assert.equal(instance.state, 'failed');
  assert.deepEqual(detail, {
    code: null,
    signal: null,
    reason: `nothing listens on ${instance.address} after 400 ms (the app must listen on $PORT)`,
  });
  await loop;
  await scaled;
  await until(provider, () => provider.instances().length === 0);
  assert.deepEqual(groupMembers([pgid]), []);
});

test('a later scaleTo supersedes an earlier one; both resolve at the later target', async (t) => {
  const provider = makeProvider(t, { env: { LISTEN_DELAY_MS: '300' } });
  const first = provider.scaleTo(3);
  await until(provider, () => provider.instances().length === 3);
  const second = provider.scaleTo(1);
  await Promise.all([first, second]);
  assert.equal(provider.desired(), 1);
  assert.deepEqual(
    provider.instances().map((i) => i.state),
    ['ready'],
  );
});

test('a change listener that moves the target mid-decision stops no more than needed', async (t) => {
  const provider = makeProvider(t);
  await provider.scaleTo(3);
  const before = provider.instances().map((i) => i.id);
  let raised: Promise<void> | undefined;
  provider.on('change', () => {
    if (!raised && provider.instances().some((i) => i.state === 'draining')) raised = provider.scaleTo(2);
  });
  await provider.scaleTo(1);
  await raised;
  assert.deepEqual(
    provider.instances().map((i) => `${i.id} ${i.state}`),
    [`${before[0]} ready`, `${before[1]} ready`],
  );
});

test('arguments are checked and close is idempotent', async (t) => {
  const provider = makeProvider(t);
  await assert.rejects(provider.scaleTo(-1), { name: 'ProviderError', code: 'INVALID_ARGUMENT' });
  await assert.rejects(provider.scaleTo(1.5), { code: 'INVALID_ARGUMENT' });
  assert.throws(
    () => makeProvider(t, { command: '  ' }),
    (err) => err instanceof ProviderError,
  );
  await provider.scaleTo(1);
  await Promise.all([provider.close(), provider.close()]);
  assert.deepEqual(provider.instances(), []);
  await assert.rejects(provider.scaleTo(1), { code: 'CLOSED' });
  await provider.scaleTo(0);
});

test('createProvider builds a LocalProvider from a group config', async () => {
  const group: GroupConfig = {
    name: 'api',
    role: 'service',
    minInstances: 1,
    maxInstances: 2,
    initialInstances: 1,
    healthPath: '/healthz',
    provider: {
      provider: 'local',
      command: 'true',
      cwd: process.cwd(),
      portEnv: 'PORT',
      env: {},
      host: '127.0.0.1',
      startTimeout: 1000,
      stopTimeout: 1000,
      crashLoopLimit: 5,
      crashLoopWindow: 60_000,
    },
  };
  const provider = createProvider(group);
  assert.ok(provider instanceof LocalProvider, 'provider instanceof LocalProvider');
  assert.equal(provider.kind, 'local');
  assert.equal(provider.desired(), 0);
  await provider.close();
});

test('resize to an instance type is refused: no instance replaced, no size taken', async (t) => {
  const provider = makeProvider(t);
  await provider.scaleTo(1);
  const before = provider.instances().map((i) => `${i.id}/${i.pid}`);
  assert.deepEqual(provider.resizes, ['cpu', 'memory']);
  await assert.rejects(provider.resize({ instanceType: 't3.large' }), { code: 'UNSUPPORTED' });
  assert.deepEqual(
    provider.instances().map((i) => `${i.id}/${i.pid}`),
    before,
  );
  assert.equal(provider.size(), undefined);
});

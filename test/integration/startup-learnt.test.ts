// The live controller learns how long its instances take to become ready: local processes that
// listen 1.5 s after they start (test/fixtures/provider-app.mjs, LISTEN_DELAY_MS), started by the
// controller at startup and by a scale-out. The policy's forecast horizon becomes that start-up +
// controller.interval instead of the 10 s guess + interval, and the API and `status` show it.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Scaleplane } from '../../src/app.js';
import { formatStatus } from '../../src/cli/format.js';
import type { GroupStatus, JournalEntry } from '../../src/controller/index.js';
import { DEFAULT_STARTUP, medianStartup } from '../../src/policy/index.js';
import { INTEGRATION_TOKEN, nextEntry, settled, startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const LISTEN_DELAY = 1_500;
const INTERVAL = 1_000;

// A long scale-down window holds the manual scale-out against the idle group's CPU.
const CONFIG = `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 500ms } }
controller: { interval: 1s }
groups:
  web:
    command: node provider-app.mjs
    env: { LISTEN_DELAY_MS: "${LISTEN_DELAY}" }
    min_instances: 1
    max_instances: 4
    scaling:
      policy: default
      metrics:
        - cpu: { target: 90 }
      behavior:
        scale_down: { stabilization_window: 5m }
`;

describe('live start-up learning (local processes)', () => {
  let app: Scaleplane | undefined;
  after(() => app?.close());

  it('the forecast horizon becomes the observed start-up + controller.interval', async () => {
    app = await startInProcess(CONFIG, FIXTURES);
    const running = app;
    const group = running.controller.group('web');
    const learnt = (): JournalEntry[] =>
      running.controller.events({ group: 'web' }).filter((e) => e.reasons.includes('StartupLearnt'));
    // The initial instance is the first one the controller started: learnt at the tick that sees it ready.
    const first =
      learnt()[0] ??
      (await nextEntry(running, (e) => e.group === 'web' && e.reasons.includes('StartupLearnt'), 15_000));
    assert.equal(first.inputs.previousHorizon, DEFAULT_STARTUP + INTERVAL, 'before: the 10 s guess');
    assert.match(
      first.message,
      /^start-up learnt: [\d.]+ s, median of 1 instance; forecast horizon [\d.]+ s$/,
    );

    running.controller.scale('web', 'scale-out', 2);
    await settled(running, 'web', 3, 20_000);
    // Measured at the next decision after they are ready.
    await until(() => group.startup.observed === 3, 10_000, 'three start-ups observed');

    const durations = running.providers
      .get('web')!
      .instances()
      .map((i) => i.readyAt! - i.startedAt);
    const { startup } = group;
    assert.equal(startup.source, 'learnt');
    assert.equal(startup.learnt, medianStartup(durations));
    for (const d of durations) assert.ok(d >= LISTEN_DELAY && d < LISTEN_DELAY + 4_500, `start-up ${d} ms`);
    // In use: the last median taken, within the 2 s hold of the current one.
    assert.ok(Math.abs(startup.ms - startup.learnt!) < 2_000, JSON.stringify(startup));
    assert.equal(group.policy?.predictive?.horizon, startup.ms + INTERVAL);
    assert.equal(learnt().at(-1)!.inputs.horizon, startup.ms + INTERVAL);

    const res = await fetch(`http://127.0.0.1:${running.apiAddress!.port}/api/scalability/groups/web`, {
      headers: { authorization: `Bearer ${INTEGRATION_TOKEN}` },
    });
    assert.equal(res.status, 200);
    const status = (await res.json()) as GroupStatus;
    assert.deepEqual(status.startup, { ...startup, horizon: startup.ms + INTERVAL });
    assert.match(
      formatStatus([status]),
      /\n {2}forecast [\d.]+ s ahead: start-up [\d.]+ s \(learnt; 3 observed, median [\d.]+ s\) \+ interval\n/,
    );
  });
});

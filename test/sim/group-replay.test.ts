import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../../src/config/index.js';
import {
  configuredGroup,
  type ExperimentOptions,
  groupReplay,
  runExperiment,
  SimConfigError,
} from '../../src/sim/index.js';

/** Six hours per second: a slow swell with a burst every 40 minutes, deterministic. */
function trace(): Float64Array {
  const n = 6 * 3600;
  const out = new Float64Array(n);
  for (let t = 0; t < n; t++) {
    const swell = 30 + 25 * Math.sin((2 * Math.PI * t) / (3 * 3600));
    out[t] = swell + (t % 2400 < 300 ? 40 : 0);
  }
  return out;
}

const config = parseConfig(
  `controller: { interval: 20s }
groups:
  web:
    command: node server.js
    min_instances: 2
    max_instances: 30
    scaling: { policy: hpa, metric_window: 1s, metrics: [{ cpu: { target: 70 } }] }
  windowed:
    command: node server.js
    min_instances: 2
    max_instances: 30
    scaling: { policy: hpa, metrics: [{ cpu: { target: 70 } }] }
  tuned:
    command: node server.js
    min_instances: 2
    max_instances: 30
    scaling:
      policy: hpa
      metric_window: 1s
      metrics: [{ cpu: { target: 70 } }]
      behavior:
        scale_down: { stabilization_window: 30s }
        scale_up: { policies: [{ type: Pods, value: 1, period: 60s }] }
  mixed:
    command: node server.js
    max_instances: 30
    scaling:
      metrics:
        - cpu: { target: 70 }
        - prometheus: { query: 'sum(rate(http_requests_total[1m]))', target: 50 }
  rps-low:
    command: node server.js
    max_instances: 30
    scaling: { metrics: [{ rps: { target: 50 } }] }
  rps-high:
    command: node server.js
    max_instances: 30
    scaling: { metrics: [{ rps: { target: 90 } }] }
  manual:
    command: node server.js
`,
  { baseDir: '/srv/app' },
);

const run = { min: 2, max: 30, startup: 10, interval: 20 };
const experiment = (policies: ExperimentOptions['policies']) =>
  runExperiment(trace(), {
    from: 0,
    aggregate: 60,
    peakInstances: 20,
    capacity: 100,
    ...run,
    policies,
    withOracle: false,
  }).rows;
const replay = (name: string) =>
  groupReplay(configuredGroup(config, name).group, { startup: 10_000, interval: 20_000 });
const figures = ({ policy: _, ...rest }: { policy: string }) => rest;

describe('replaying a configured group', () => {
  it('a group on policy hpa with CPU at 70 % read each second replays exactly as the hpa preset', () => {
    const [group, preset] = experiment([replay('web'), 'hpa']);
    assert.equal(group!.policy, 'config:web');
    assert.ok(preset!.violation_pct > 0, 'the trace overloads hpa at times, so the figures say something');
    assert.deepEqual(figures(group!), figures(preset!));
  });

  it("CPU is read over the group's metric_window (30 s by default), as live: later to follow a burst", () => {
    const [windowed, preset] = experiment([replay('windowed'), 'hpa']);
    assert.deepEqual(replay('windowed').metrics, [{ type: 'cpu', target: 70, window: 30 }]);
    assert.ok(
      windowed!.violation_pct > preset!.violation_pct,
      `${windowed!.violation_pct} ≤ ${preset!.violation_pct}`,
    );
  });

  it("the group's behavior changes the figures", () => {
    const [tuned, preset] = experiment([replay('tuned'), 'hpa']);
    assert.notDeepEqual(figures(tuned!), figures(preset!));
    // One pod per minute up: slower to follow the bursts than +100 % / +4 per 15 s.
    assert.ok(
      tuned!.violation_pct > preset!.violation_pct,
      `${tuned!.violation_pct} ≤ ${preset!.violation_pct}`,
    );
  });

  it('an rps metric is the group request rate at its per-instance target', () => {
    const [low, high] = experiment([replay('rps-low'), replay('rps-high')]);
    // Peak 2000 req/s: ~40 instances at 50 req/s each (capped at 30) against ~23 at 90.
    assert.ok(
      low!.instance_hours > 1.5 * high!.instance_hours,
      `${low!.instance_hours} vs ${high!.instance_hours}`,
    );
  });

  it('a metric the simulator cannot make from demand is refused, naming its path', () => {
    assert.throws(
      () => replay('mixed'),
      (err: unknown) =>
        err instanceof SimConfigError &&
        err.code === 'SIM_UNSUPPORTED_METRIC' &&
        err.message.startsWith('groups.mixed.scaling.metrics[1] (prometheus): '),
    );
  });

  it('an unknown group names itself and the groups there are; a group without scaling is refused', () => {
    assert.throws(
      () => configuredGroup(config, 'api'),
      (err: unknown) =>
        err instanceof SimConfigError &&
        err.code === 'SIM_UNKNOWN_GROUP' &&
        err.message.startsWith('groups.api: ') &&
        err.message.includes('web, windowed, tuned, mixed'),
    );
    assert.throws(
      () => configuredGroup(config, 'manual'),
      (err: unknown) => err instanceof SimConfigError && err.code === 'SIM_NOT_SCALED',
    );
  });

  it("a configured group's timing comes from the config: controller.interval, the group's start-up", () => {
    const c = configuredGroup(config, 'web');
    assert.deepEqual([c.interval, c.startup], [20_000, 10_000]);
  });
});

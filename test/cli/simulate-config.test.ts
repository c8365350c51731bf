import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli-process.js';

const CONFIG = `controller:
  interval: 20s
groups:
  web:
    command: node server.js
    min_instances: 2
    max_instances: 30
    scaling:
      policy: hpa
      metric_window: 1s   # the preset reads CPU each second
      metrics:
        - cpu: { target: 70 }
  tuned:
    command: node server.js
    min_instances: 2
    max_instances: 30
    scaling:
      policy: hpa
      metrics:
        - cpu: { target: 70 }
      behavior:
        scale_down: { stabilization_window: 30s }
  queue:
    command: node worker.js
    max_instances: 10
    scaling:
      metrics:
        - cpu: { target: 70 }
        - prometheus: { query: 'sum(rabbitmq_queue_messages)', target: 100 }
`;

interface Row {
  policy: string;
  requests: number;
  violation_pct: number;
  instance_hours: number;
  cost_vs_oracle: number;
}

const rows = (stdout: string): Row[] =>
  stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Row);

describe('scaleplane simulate --config --group', () => {
  let dir: string;
  let trace: string;
  let config: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-simconfig-'));
    trace = join(dir, 'workload.txt');
    config = join(dir, 'scaleplane.yaml');
    // Four hours per second: a swell with a 5-minute burst every 40 minutes.
    const counts = Array.from({ length: 4 * 3600 }, (_, t) =>
      Math.round(30 + 25 * Math.sin((2 * Math.PI * t) / 10_800) + (t % 2400 < 300 ? 40 : 0)),
    );
    await writeFile(trace, `${counts.join(' ')}\n`);
    await writeFile(config, CONFIG);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("replays the group's policy through the same code as --policy: equal figures, bounds and timing from the config", async () => {
    const [fromConfig, fromPreset, table] = await Promise.all([
      runCli(['simulate', '--trace', trace, '--config', config, '--group', 'web', '--json']),
      runCli(
        ['simulate', '--trace', trace, '--policy', 'hpa'].concat([
          '--min',
          '2',
          '--max',
          '30',
          '--interval',
          '20',
          '--startup',
          '10',
          '--json',
        ]),
      ),
      // A flag given on the command line wins over the group's value.
      runCli([
        'simulate',
        '--trace',
        trace,
        '-c',
        config,
        '--group',
        'tuned',
        '--policy',
        'hpa',
        '--max',
        '12',
      ]),
    ]);
    assert.equal(fromConfig.code, 0, fromConfig.stderr);
    assert.equal(fromPreset.code, 0, fromPreset.stderr);
    const [group] = rows(fromConfig.stdout);
    const [preset] = rows(fromPreset.stdout);
    assert.equal(group?.policy, 'config:web');
    assert.equal(preset?.policy, 'hpa');
    assert.ok(preset!.violation_pct > 0 && preset!.instance_hours > 0, 'figures that could differ');
    assert.deepEqual({ ...group, policy: 'hpa' }, preset);

    assert.equal(table.code, 0, table.stderr);
    assert.match(
      table.stdout,
      /startup 10s, interval 20s, instances 2\.\.12; config:tuned is groups\.tuned of /,
    );
    const lines = table.stdout.split('\n');
    const tuned = lines.find((l) => l.startsWith('config:tuned '));
    const hpa = lines.find((l) => l.startsWith('hpa '));
    assert.ok(tuned && hpa, table.stdout);
    // A 30 s scale-down window instead of hpa's 300 s: other figures from the same demand.
    assert.notDeepEqual(tuned.split(/\s+/).slice(1), hpa.split(/\s+/).slice(1));
  });

  it('refuses, before reading the trace, a metric it cannot model, an unknown group, and --config alone', async () => {
    const missing = join(dir, 'no-such-trace.txt');
    const [metric, group, alone, only] = await Promise.all([
      runCli(['simulate', '--trace', missing, '--config', config, '--group', 'queue']),
      runCli(['simulate', '--trace', missing, '--config', config, '--group', 'api']),
      runCli(['simulate', '--trace', missing, '--config', config]),
      runCli(['simulate', '--trace', missing, '--group', 'web']),
    ]);
    assert.equal(metric.code, 2);
    assert.match(
      metric.stderr,
      /scaleplane\.yaml: groups\.queue\.scaling\.metrics\[1\] \(prometheus\): the simulator models CPU and request rate \(rps\) only/,
    );
    assert.equal(group.code, 2);
    assert.match(group.stderr, /groups\.api: no such group \(the config has web, tuned, queue\)/);
    assert.equal(alone.code, 2);
    assert.match(alone.stderr, /--config alone: --config FILE --group NAME/);
    assert.equal(only.code, 2);
    assert.match(only.stderr, /--group alone: --config FILE --group NAME/);
  });
});

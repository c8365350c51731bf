// The `memory` metric kind: HPA's Resource metric for memory, as `target` (Utilization, percent of
// the group's resources.memory) or `average_value` (AverageValue, a size per instance).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue, type MetricConfig, parseConfig } from '../../src/config/index.js';

const MIB = 1024 * 1024;

/** group is a one-group config whose lines 1–7 are fixed, so `metrics` entries start on line 8. */
function group(metrics: string[], extra: string[] = []): string {
  return `${[
    'groups:',
    '  web:',
    '    command: x',
    '    max_instances: 4',
    ...extra.map((line) => `    ${line}`),
    '    scaling:',
    '      metrics:',
    ...metrics.map((line) => `        ${line}`),
  ].join('\n')}\n`;
}

function issuesOf(yaml: string): ConfigIssue[] {
  try {
    parseConfig(yaml, { baseDir: '/srv/app' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected a ConfigError');
}

describe('config: memory metric', () => {
  const accepted: { name: string; yaml: string; want: MetricConfig[] }[] = [
    {
      name: 'target is Utilization of resources.memory',
      yaml: group(['- memory: { target: 80 }'], ['resources: { memory: 512Mi }']),
      want: [{ type: 'memory', target: 80, targetType: 'Utilization' }],
    },
    {
      name: 'average_value is AverageValue, a size parsed like the rest of the config',
      yaml: group(['- memory: { average_value: 256Mi }']),
      want: [{ type: 'memory', target: 256 * MIB, targetType: 'AverageValue' }],
    },
    {
      name: 'average_value in plain bytes, beside cpu',
      yaml: group(['- cpu: { target: 70 }', '- memory:', '    average_value: 1000000']),
      want: [
        { type: 'cpu', target: 70 },
        { type: 'memory', target: 1_000_000, targetType: 'AverageValue' },
      ],
    },
    {
      // Read from metrics-server's PodMetrics; a target is a percent of the pods' memory requests.
      name: 'a Kubernetes group, target without resources.memory',
      yaml: group(['- memory: { target: 80 }']).replace(
        '    command: x\n',
        '    provider: kubernetes\n    name: web\n',
      ),
      want: [{ type: 'memory', target: 80, targetType: 'Utilization' }],
    },
    {
      name: 'average_value in G (decimal)',
      yaml: group(['- memory: { average_value: 1G }'], ['resources: { cpu: 0.5 }']),
      want: [{ type: 'memory', target: 1e9, targetType: 'AverageValue' }],
    },
  ];
  for (const c of accepted) {
    it(`accepts: ${c.name}`, () => {
      const config = parseConfig(c.yaml, { baseDir: '/srv/app' });
      assert.deepEqual(config.groups.web?.scaling?.metrics, c.want);
    });
  }

  const rejected: { name: string; yaml: string; issues: { path: string; line: number }[] }[] = [
    {
      name: 'a target without a memory limit',
      yaml: group(['- memory: { target: 80 }']),
      issues: [{ path: 'groups.web.scaling.metrics.0.memory.target', line: 7 }],
    },
    {
      name: 'a target with only a CPU limit (second metric)',
      yaml: group(['- cpu: { target: 70 }', '- memory:', '    target: 80'], ['resources: { cpu: 1 }']),
      issues: [{ path: 'groups.web.scaling.metrics.1.memory.target', line: 10 }],
    },
    {
      name: 'both target and average_value',
      yaml: group(['- memory: { target: 80, average_value: 256Mi }'], ['resources: { memory: 1Gi }']),
      issues: [{ path: 'groups.web.scaling.metrics.0.memory', line: 8 }],
    },
    {
      name: 'neither',
      yaml: group(['- memory: {}']),
      issues: [{ path: 'groups.web.scaling.metrics.0.memory', line: 7 }],
    },
    {
      name: 'a size that is not one',
      yaml: group(['- memory: { average_value: 256MB }']),
      issues: [{ path: 'groups.web.scaling.metrics.0.memory.average_value', line: 7 }],
    },
    {
      name: 'zero bytes',
      yaml: group(['- memory: { average_value: 0 }']),
      issues: [{ path: 'groups.web.scaling.metrics.0.memory.average_value', line: 7 }],
    },
    {
      name: 'a zero target',
      yaml: group(['- memory: { target: 0 }'], ['resources: { memory: 1Gi }']),
      issues: [{ path: 'groups.web.scaling.metrics.0.memory.target', line: 8 }],
    },
    {
      name: 'a misspelt key',
      yaml: group(['- memory: { average: 256Mi }']),
      issues: [
        { path: 'groups.web.scaling.metrics.0.memory.average', line: 7 },
        { path: 'groups.web.scaling.metrics.0.memory', line: 7 },
      ],
    },
    {
      name: 'two memory metrics',
      yaml: group(
        ['- memory: { target: 80 }', '- memory: { average_value: 256Mi }'],
        ['resources: { memory: 1Gi }'],
      ),
      issues: [{ path: 'groups.web.scaling.metrics.1.memory', line: 9 }],
    },
    {
      name: 'an AWS group',
      yaml: group(['- memory: { average_value: 256Mi }'], []).replace(
        '    command: x\n',
        '    provider: aws\n    auto_scaling_group: web-asg\n',
      ),
      issues: [{ path: 'groups.web.scaling.metrics.0.memory', line: 8 }],
    },
  ];
  for (const c of rejected) {
    it(`rejects: ${c.name}`, () => {
      assert.deepEqual(
        issuesOf(c.yaml).map(({ path, line }) => ({ path, line })),
        c.issues,
      );
    });
  }

  it('says what a target without a limit needs', () => {
    const [issue] = issuesOf(group(['- memory: { target: 80 }']));
    assert.match(issue!.message, /resources\.memory/);
    assert.match(issue!.message, /average_value/);
  });
});

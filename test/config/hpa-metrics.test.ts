// `mode: hpa` writes an autoscaling/v2 HPA with one Resource metric, cpu Utilization. Before, the
// first metric's target went into it whatever its kind, and `validate` called the config valid:
// `latency: { target: 200 }` gave an HPA on cpu at 200 % while `validate` said "scaled on latency
// target 200" and `status` showed latency; `[rps 20, cpu 60]` gave cpu 20 %. Now such a metric is a
// config error naming it and its line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';

/** kube is a one-group Kubernetes config whose metrics start on line 11. */
function kube(mode: 'hpa' | 'controller', metrics: string[]): string {
  return `${[
    'groups:',
    '  web:',
    '    provider: kubernetes',
    '    namespace: shop',
    '    name: web',
    '    port: 8080',
    `    mode: ${mode}`,
    '    max_instances: 5',
    '    scaling:',
    '      metrics:',
    ...metrics.map((line) => `        ${line}`),
  ].join('\n')}\n`;
}

function issuesOf(yaml: string) {
  try {
    parseConfig(yaml, { baseDir: '/srv/app' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.issues.map((i) => ({ path: i.path, line: i.line, message: i.message }));
  }
  return [];
}

describe('config: metrics of a mode hpa group', () => {
  it('a metric the HPA written cannot carry is an error naming it and its line', () => {
    const issues = issuesOf(
      kube('hpa', ['- rps: { target: 20 }', '- cpu: { target: 60 }', '- latency: { target: 200 }']),
    );
    assert.deepEqual(
      issues.map((i) => [i.path, i.line]),
      [
        ['groups.web.scaling.metrics.0.rps', 11],
        ['groups.web.scaling.metrics.2.latency', 13],
      ],
      'rps and latency named, cpu accepted',
    );
    assert.match(issues[0]!.message, /mode: hpa writes an HPA on cpu utilization only/);
  });

  it('cpu in mode hpa, and any metric in mode controller, are accepted', () => {
    assert.deepEqual(issuesOf(kube('hpa', ['- cpu: { target: 60 }'])), [], 'cpu is what the HPA scales on');
    assert.deepEqual(
      issuesOf(kube('controller', ['- rps: { target: 20 }', '- latency: { target: 200 }'])),
      [],
      'Scaleplane reads these itself in mode controller',
    );
  });
});

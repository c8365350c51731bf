// hpaMetricsToWrite: the HPA's spec.metrics a write of ours puts, when another client may have set them.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeHpaMetrics, hpaMetricsToWrite } from '../../src/providers/kubernetes/hpa-metrics.js';

const cpu = (target: number) => [
  {
    type: 'Resource',
    resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: target } },
  },
];

it('hpaMetricsToWrite keeps another client’s metrics while the configured ones are unchanged', () => {
  const cases = [
    {
      configured: cpu(60),
      written: cpu(60),
      stored: cpu(60),
      want: 'configured 60',
      why: 'nobody changed them',
    },
    {
      configured: cpu(60),
      written: cpu(60),
      stored: cpu(50),
      want: 'kept 50',
      why: 'kubectl edit: left as set',
    },
    {
      configured: cpu(75),
      written: cpu(60),
      stored: cpu(50),
      want: 'replaced 75 over 50',
      why: 'config changed too',
    },
    {
      configured: cpu(75),
      written: cpu(60),
      stored: cpu(60),
      want: 'configured 75',
      why: 'config changed alone',
    },
    { configured: cpu(60), written: undefined, stored: cpu(50), want: 'replaced 60 over 50', why: 'start' },
    {
      configured: cpu(60),
      written: undefined,
      stored: undefined,
      want: 'configured 60',
      why: 'start, no HPA',
    },
  ];
  for (const c of cases) {
    const got = hpaMetricsToWrite(c.configured, c.written, c.stored);
    const target = (m: unknown[] | undefined) => describeHpaMetrics(m ?? []).replace(/\D+/g, '');
    const text = `${got.source} ${target(got.metrics)}${got.replaced ? ` over ${target(got.replaced)}` : ''}`;
    assert.equal(text, c.want, c.why);
  }
});

it('hpaMetricsToWrite compares regardless of key order (the API server writes its own)', () => {
  const reordered = [
    { resource: { target: { averageUtilization: 50, type: 'Utilization' }, name: 'cpu' }, type: 'Resource' },
  ];
  assert.equal(hpaMetricsToWrite(cpu(60), cpu(50), reordered).source, 'configured');
});

it('describeHpaMetrics names the one cpu target, else gives the metrics', () => {
  assert.equal(describeHpaMetrics(cpu(60)), 'cpu target 60 %');
  const both = [
    ...cpu(60),
    {
      type: 'Resource',
      resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 70 } },
    },
  ];
  assert.equal(describeHpaMetrics(both), `metrics ${JSON.stringify(both)}`);
});

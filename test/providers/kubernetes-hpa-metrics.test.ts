// hpaMetricsToWrite, hpaFieldToWrite: the HPA's spec.metrics and spec.behavior a write of ours puts,
// when another client may have set them.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type HpaBehavior, sameHpaBehavior } from '../../src/providers/kubernetes/hpa-behavior.js';
import {
  describeHpaMetrics,
  hpaFieldToWrite,
  hpaMetricsToWrite,
} from '../../src/providers/kubernetes/hpa-metrics.js';

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

/** window is a behavior of one scale-down window of `seconds` (undefined: no behavior). */
const window = (seconds: number | undefined): HpaBehavior | undefined =>
  seconds === undefined ? undefined : { scaleDown: { stabilizationWindowSeconds: seconds } };

it('hpaFieldToWrite keeps another client’s behavior while the configured one is unchanged', () => {
  const cases = [
    { configured: 120, written: 120, stored: 120, want: 'configured 120', why: 'nobody changed it' },
    { configured: 120, written: 120, stored: 600, want: 'kept 600', why: 'kubectl edit: left as set' },
    { configured: undefined, written: undefined, stored: 600, want: 'kept 600', why: 'none configured' },
    { configured: 120, written: 120, stored: undefined, want: 'kept none', why: 'removed by hand' },
    { configured: 300, written: 120, stored: 600, want: 'replaced 300 over 600', why: 'config changed too' },
    { configured: 300, written: 120, stored: 120, want: 'configured 300', why: 'config changed alone' },
  ];
  for (const c of cases) {
    const got = hpaFieldToWrite(
      window(c.configured),
      { value: window(c.written) },
      window(c.stored),
      sameHpaBehavior,
    );
    const seconds = (b: HpaBehavior | undefined) => b?.scaleDown?.stabilizationWindowSeconds ?? 'none';
    const text = `${got.source} ${seconds(got.value)}${got.source === 'replaced' ? ` over ${seconds(got.replaced)}` : ''}`;
    assert.equal(text, c.want, c.why);
  }
});

it('sameHpaBehavior compares behaviors as Kubernetes defaults them', () => {
  const stored: HpaBehavior = {
    scaleDown: {
      policies: [{ periodSeconds: 15, type: 'Percent', value: 100 }],
      selectPolicy: 'Max',
      stabilizationWindowSeconds: 120,
    },
    scaleUp: {
      policies: [
        { periodSeconds: 15, type: 'Pods', value: 4 },
        { periodSeconds: 15, type: 'Percent', value: 100 },
      ],
      selectPolicy: 'Max',
      stabilizationWindowSeconds: 0,
    },
  };
  assert.ok(sameHpaBehavior(window(120), stored), 'ours as the API server stores it');
  assert.ok(!sameHpaBehavior(window(300), stored), 'another window');
  assert.ok(!sameHpaBehavior(undefined, stored), 'no behavior is not the defaults');
  assert.ok(sameHpaBehavior(undefined, undefined), 'no behavior on either side is the same');
  assert.ok(
    !sameHpaBehavior({ scaleDown: {} }, stored),
    'the scale-down window is not defaulted (the cluster flag applies)',
  );
});

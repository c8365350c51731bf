// `mode: hpa` writes `scaling.behavior` into the HPA's autoscaling/v2 `spec.behavior`. Before, the
// HPA was written without it: the configured windows and rate policies were silently ignored and
// Kubernetes ran its defaults (scale-down window 300 s, ±100 % per 15 s). What an HPA cannot carry
// is a config error naming the field. From a parsed config, through createProvider and the official
// client over real HTTP, to the HPA KubeServer (kube-server.ts) stores.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { createProvider } from '../../src/providers/index.js';
import { KubeServer, kubeConfig } from './kube-server.js';

/** kube is a one-group `mode: hpa` config on Deployment shop/web; `behavior` lines start on line 13. */
function kube(behavior: string[]): string {
  return `${[
    'groups:',
    '  web:',
    '    provider: kubernetes',
    '    namespace: shop',
    '    name: web',
    '    port: 8080',
    '    mode: hpa',
    '    max_instances: 5',
    '    scaling:',
    '      metrics:',
    '        - cpu: { target: 60 }',
    '      behavior:',
    ...behavior.map((line) => `        ${line}`),
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

/** storedBehavior starts the parsed group's provider against a KubeServer and gives the stored HPA's spec.behavior. */
async function storedBehavior(t: TestContext, behavior: string[]): Promise<unknown> {
  const config = parseConfig(kube(behavior), { baseDir: '/srv/app' });
  const server = new KubeServer();
  await server.start();
  t.after(() => server.close());
  server.addWorkload('Deployment', 'shop', 'web', 1);
  const group = config.groups.web;
  assert.ok(group, 'group web parsed');
  const provider = createProvider(group, { client: { kubeConfig: kubeConfig(server.url) } });
  t.after(() => provider.close());
  await provider.start?.();
  const stored = server.hpas.get('shop/web');
  assert.ok(stored, 'the HPA shop/web is stored');
  assert.equal(stored.spec.metrics[0].resource.target.averageUtilization, 60, 'cpu target as before');
  return stored.spec.behavior;
}

describe('mode hpa: scaling.behavior', () => {
  it('is written into the HPA the API server stores, key for key, Kubernetes defaulting the rest', async (t) => {
    const behavior = await storedBehavior(t, [
      'scale_down:',
      '  stabilization_window: 120s',
      '  select_policy: Min',
      '  policies: [ { type: Pods, value: 1, period: 60s }, { type: Percent, value: 10, period: 30s } ]',
      'scale_up:',
      '  policies: [ { type: Pods, value: 2, period: 15s } ]',
    ]);
    assert.deepEqual(behavior, {
      scaleDown: {
        stabilizationWindowSeconds: 120,
        selectPolicy: 'Min',
        policies: [
          { type: 'Pods', value: 1, periodSeconds: 60 },
          { type: 'Percent', value: 10, periodSeconds: 30 },
        ],
      },
      scaleUp: { policies: [{ type: 'Pods', value: 2, periodSeconds: 15 }] },
    });
  });

  it('without a behavior the HPA has none, as before (Kubernetes defaults it)', async (t) => {
    assert.equal(await storedBehavior(t, ['scale_up: {}']), undefined, 'no spec.behavior');
  });

  it('Disabled without policies writes selectPolicy alone (an empty list is refused by Kubernetes)', async (t) => {
    assert.deepEqual(await storedBehavior(t, ['scale_down: { select_policy: Disabled }']), {
      scaleDown: { selectPolicy: 'Disabled' },
    });
  });

  it('what an HPA cannot carry is a config error naming the field and its line', () => {
    const issues = issuesOf(
      kube([
        'scale_down:',
        '  tolerance: 0.05',
        '  stabilization_window: 1500ms',
        'scale_up:',
        '  policies: [ { type: Percent, value: 12.5, period: 2500ms } ]',
      ]),
    );
    assert.deepEqual(
      issues.map((i) => [i.path, i.line]),
      [
        ['groups.web.scaling.behavior.scale_down.tolerance', 14],
        ['groups.web.scaling.behavior.scale_down.stabilization_window', 15],
        ['groups.web.scaling.behavior.scale_up.policies.0.value', 17],
        ['groups.web.scaling.behavior.scale_up.policies.0.period', 17],
      ],
      issues.map((i) => `${i.path}: ${i.message}`).join('\n'),
    );
    assert.match(issues[0]!.message, /HPAConfigurableTolerance/);
    assert.match(issues[1]!.message, /whole seconds from 0s to 3600s/);
    const empty = issuesOf(kube(['scale_up: { policies: [] }']));
    assert.deepEqual(
      empty.map((i) => i.path),
      ['groups.web.scaling.behavior.scale_up.policies'],
      'an empty list means no rate limit here, which an HPA cannot say',
    );
  });

  it('mode controller keeps accepting all of it (Scaleplane runs the policy itself)', () => {
    const yaml = kube(['scale_down: { tolerance: 0.05, stabilization_window: 1500ms }']).replace(
      'mode: hpa',
      'mode: controller',
    );
    assert.deepEqual(issuesOf(yaml), [], 'no issue in mode controller');
  });
});

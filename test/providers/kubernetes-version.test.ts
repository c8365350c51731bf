// An API server too old for the provider: the start fails naming the version and what it lacks.
// Before, a 1.21 cluster started; then a replacement failed with a bare 404 (no policy/v1
// Eviction), a scale-in had its ReplicaSet remove pods it had not drained (pod-deletion-cost is
// beta from 1.22), and mode: hpa got a 404 writing its autoscaling/v2 HPA (served from 1.23).
// Against the fake API server (kube-server.ts) through @kubernetes/client-node.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { versionProblem } from '../../src/providers/kubernetes/version.js';
import { webOnKube } from './kube-server.js';

describe('versionProblem', () => {
  const cases: [string, string, 'controller' | 'hpa', RegExp | undefined][] = [
    [
      '1',
      '21+',
      'controller',
      /^Kubernetes v1\.21\.0 is older than 1\.22.*policy\/v1 Eviction.*pod-deletion-cost/,
    ],
    ['1', '22', 'controller', undefined],
    [
      '1',
      '22',
      'hpa',
      /^Kubernetes v1\.22\.0 is older than 1\.23.*autoscaling\/v2 HorizontalPodAutoscaler.*or use mode: controller$/,
    ],
    ['1', '23', 'hpa', undefined],
    ['1', '30', 'controller', undefined],
    ['', '', 'controller', undefined],
  ];
  for (const [major, minor, mode, want] of cases)
    it(`${major}.${minor} in mode: ${mode}: ${want ? 'refused' : 'accepted'}`, () => {
      const got = versionProblem(
        { major, minor, gitVersion: `v${major}.${Number.parseInt(minor, 10)}.0` },
        mode,
      );
      if (want === undefined) assert.equal(got, undefined);
      else assert.match(got ?? '(accepted)', want);
    });
});

describe('KubernetesProvider on an old API server', () => {
  it('1.21: the start fails UNSUPPORTED naming the version and what is missing, writing nothing', async (t) => {
    const { server, provider } = await webOnKube(t, 2, {
      arrange: (s) => {
        s.version = { major: '1', minor: '21+', gitVersion: 'v1.21.14-eks-18ef993' };
      },
    });
    await assert.rejects(provider.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'UNSUPPORTED', `code ${err.code}: ${err.message}`);
      assert.match(
        err.message,
        /^Deployment shop\/web: Kubernetes v1\.21\.14-eks-18ef993 is older than 1\.22, the oldest that mode: controller supports: it lacks policy\/v1 Eviction/,
      );
      return true;
    });
    const writes = server.requests.filter((r) => r.method !== 'GET');
    assert.deepEqual(writes, [], `no write to an unsupported cluster, saw ${JSON.stringify(writes)}`);
  });

  it('1.22 in mode: hpa: refused naming autoscaling/v2; in mode: controller it starts', async (t) => {
    const old = { major: '1', minor: '22', gitVersion: 'v1.22.17' };
    const hpa = await webOnKube(t, 2, { config: { mode: 'hpa' }, arrange: (s) => (s.version = old) });
    await assert.rejects(hpa.provider.start(), {
      code: 'UNSUPPORTED',
      message: /autoscaling\/v2 HorizontalPodAutoscaler \(mode: hpa writes one\) \(1\.23\)/,
    });
    assert.equal(hpa.server.hpas.size, 0, 'no HPA written');
    const controller = await webOnKube(t, 2, { arrange: (s) => (s.version = old) });
    await controller.provider.start();
    assert.equal(controller.provider.desired(), 2);
  });

  it('a server that does not answer /version: the start goes on', async (t) => {
    const { provider } = await webOnKube(t, 2, { arrange: (s) => (s.version = undefined) });
    await provider.start();
    assert.equal(provider.desired(), 2);
  });
});

describe('KubernetesProvider on 1.22 (no autoscaling/v2)', () => {
  it('an HPA that also scales the workload is still found, through autoscaling/v1', async (t) => {
    // Before, the v2 list's 404 was warned about as missing RBAC and the start went on: the HPA
    // and Scaleplane then overwrote each other's replicas every sync.
    const { provider } = await webOnKube(t, 2, {
      arrange: (s) => {
        s.version = { major: '1', minor: '22', gitVersion: 'v1.22.17' };
        s.autoscalingV2 = false;
        s.hpas.set('shop/legacy', {
          apiVersion: 'autoscaling/v2',
          kind: 'HorizontalPodAutoscaler',
          metadata: { name: 'legacy', namespace: 'shop' },
          spec: {
            scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
            maxReplicas: 5,
          },
        });
      },
    });
    await assert.rejects(provider.start(), {
      code: 'INVALID_ARGUMENT',
      message: /HorizontalPodAutoscaler shop\/legacy also scales it/,
    });
  });
});

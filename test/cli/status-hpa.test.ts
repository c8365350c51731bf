// In `mode: hpa` the Kubernetes HPA scales the group and computes its figures; Scaleplane's policy
// stays out. `scaleplane status` showed the cpu average as `n/a` (it came from the policy's
// decisions, which hpa mode has none of) and, without a `scaling` section, the group as `manual`.
// Now it reads the HPA and shows its own figures (status.currentMetrics against the spec's targets)
// and that the group is scaled by it. The whole app in process, on the fake API server
// (kube-server.ts) through the official client over real HTTP; `status` as a CLI process.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { runCli } from '../helpers/cli-process.js';
import { startInProcess } from '../helpers/scaleplane.js';
import { KubeServer } from '../providers/kube-server.js';

const env = { SCALEPLANE_API_KEY: 'integration-token' };

/** kubeconfigFor writes a kubeconfig that points at `server`. */
async function kubeconfigFor(server: KubeServer): Promise<string> {
  const file = join(tmpdir(), `scaleplane-status-hpa-${process.pid}-${Date.now()}.kubeconfig`);
  await writeFile(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [ { name: fake, cluster: { server: "${server.url}", insecure-skip-tls-verify: true } } ]`,
      'users: [ { name: sp, user: { token: scaleplane } } ]',
      'contexts: [ { name: fake, context: { cluster: fake, user: sp, namespace: shop } } ]',
      'current-context: fake',
      '',
    ].join('\n'),
  );
  return file;
}

for (const scaling of ['', '\n    scaling:\n      metrics:\n        - cpu: { target: 50 }']) {
  const target = scaling ? 50 : 80;
  it(`mode hpa ${scaling ? 'with' : 'without'} a scaling section: status shows the HPA's figures and that it scales the group`, async (t) => {
    const server = new KubeServer();
    await server.start();
    t.after(() => server.close());
    server.addWorkload('Deployment', 'shop', 'web', 2);
    const kubeconfig = await kubeconfigFor(server);
    const app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
groups:
  web:
    provider: kubernetes
    namespace: shop
    name: web
    port: 8080
    mode: hpa
    kubeconfig: ${kubeconfig}
    min_instances: 1
    max_instances: 5${scaling}`);
    t.after(() => app.close());
    const api = `http://127.0.0.1:${app.apiAddress!.port}`;
    const hpa = server.hpas.get('shop/web');
    assert.ok(hpa, 'start wrote the HPA');
    // What the HPA controller's sync writes into its status.
    hpa.status = {
      currentReplicas: 2,
      desiredReplicas: 2,
      currentMetrics: [
        {
          type: 'Resource',
          resource: { name: 'cpu', current: { averageUtilization: 37, averageValue: '185m' } },
        },
      ],
    };

    const { code, stdout } = await runCli(['status', '--api', api], env);
    assert.equal(code, 0, `status exits 0: ${stdout}`);
    const head = stdout.split('\n')[0]!;
    assert.match(
      head,
      new RegExp(`scaled by its HorizontalPodAutoscaler shop/web: cpu 37\\.0% / target ${target}%`),
      `the HPA's own figure and that it scales the group: ${head}`,
    );
    assert.doesNotMatch(head, /manual|n\/a/, `neither manual nor n/a: ${head}`);
    const json = JSON.parse((await runCli(['status', 'web', '--api', api, '--json'], env)).stdout);
    assert.equal(json[0].scaledBy, 'HorizontalPodAutoscaler shop/web', 'the API names the HPA');
    assert.equal(json[0].autoscaling, true, 'autoscaled, by the HPA');
    assert.deepEqual(json[0].metrics, [{ name: 'cpu', target, average: 37, unit: '%' }], "the HPA's figures");

    // A status the HPA controller rewrote since is read again at the next `status`.
    hpa.status.currentMetrics[0].resource.current.averageUtilization = 91;
    const again = (await runCli(['status', '--api', api], env)).stdout.split('\n')[0]!;
    assert.match(again, new RegExp(`cpu 91\\.0% / target ${target}%`), `read again: ${again}`);
  });
}

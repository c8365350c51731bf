// A watch RBAC refuses says what to grant. The client library keeps only "Forbidden" of a watch's
// 403 (not the API server's message naming the verb and resource), so a Role without `watch` on
// deployments read "Deployment watch failed (403 Forbidden)" and nothing more. Against KubeServer
// (kube-server.ts), through the official client over real HTTP.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { it } from 'node:test';
import { webOnKube } from './kube-server.js';

it('a workload watch refused 403 names the verb, resource and API group to grant', async (t) => {
  const { provider } = await webOnKube(t, 1, {
    arrange: (s) => {
      // A Role from before the workload watch: get and patch on deployments, no watch (a watch of
      // one Deployment is a GET of the collection with watch=true and a fieldSelector).
      s.forbid = (method, path) => method === 'GET' && path === '/apis/apps/v1/namespaces/shop/deployments';
    },
  });
  const error = once(provider, 'error');
  await provider.start();
  const [err] = (await error) as [Error];
  assert.match(
    err.message,
    /Deployment watch failed \(403 Forbidden: RBAC does not let Scaleplane watch deployments in namespace shop: grant verb watch on resource deployments in API group "apps" \(see examples\/kubernetes\/rbac.yaml\)\); watching again/,
    `the error names what to grant: ${err.message}`,
  );
});

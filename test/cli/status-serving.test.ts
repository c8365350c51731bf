// `scaleplane status` said `web  1/1 ready` while the only instance failed its health checks and the
// balancer had it out of rotation: nothing served, and only the instance row's `unhealthy` said so.
// kubectl's READY counts pods passing their readiness probe; the group line now says how many serve.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { runCli } from '../helpers/cli-process.js';
import { startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

// Healthy until a request to /sick, then /healthz answers 503.
const APP = `
const http = require('node:http');
let sick = false;
http.createServer((req, res) => {
  if (req.url === '/sick') sick = true;
  res.statusCode = req.url === '/healthz' && sick ? 503 : 200;
  res.end('ok');
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

describe('status counts the instances that serve', () => {
  let app: Scaleplane;
  let dir: string;
  let api: string;
  const env = { SCALEPLANE_API_KEY: 'integration-token' };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'status-serving-'));
    await writeFile(join(dir, 'app.cjs'), APP);
    app = await startInProcess(
      `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 200ms, unhealthy_threshold: 1 } }
groups:
  web: { command: node app.cjs, min_instances: 1, max_instances: 1 }
`,
      dir,
    );
    api = `http://127.0.0.1:${app.apiAddress!.port}`;
  });
  after(async () => {
    await app?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('1/1 ready, 0 serving once the only instance fails its health checks', async () => {
    const healthy = await runCli(['status', 'web', '--api', api, '--json'], env);
    assert.equal(JSON.parse(healthy.stdout)[0].serving, 1, `serving while healthy: ${healthy.stdout}`);

    const instance = app.controller.status('web').instances[0]!;
    const answer = await fetch(`http://${instance.address}/sick`);
    assert.equal(answer.status, 200, 'the instance took /sick');
    await until(
      () => app.controller.status('web').instances[0]?.health === 'unhealthy',
      10_000,
      'the balancer takes the instance out of rotation',
    );

    const json = JSON.parse((await runCli(['status', 'web', '--api', api, '--json'], env)).stdout);
    assert.deepEqual(
      [json[0].ready, json[0].serving],
      [1, 0],
      `ready and serving: ${JSON.stringify(json[0])}`,
    );
    const { code, stdout } = await runCli(['status', '--api', api], env);
    assert.equal(code, 0, `status exits 0: ${stdout}`);
    assert.match(
      stdout.split('\n')[0]!,
      /^web {2}1\/1 ready, 0 serving \(1 unhealthy\) {2}\(min 1, max 1, manual\)$/,
      stdout,
    );
  });
});

// `scaleplane status` left an instance's size out: after `scaleplane resize web cpu=0.5,memory=64Mi`
// nothing in it (text or --json) told a resized instance from one on the old size. The API's
// instance status now has `size` when the provider knows it, and the instance row shows it.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { formatStatus } from '../../src/cli/format.js';
import type { GroupStatus } from '../../src/controller/index.js';
import { detectCgroups } from '../../src/providers/index.js';
import { runCli } from '../helpers/cli-process.js';
import { startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

const APP = `require('node:http').createServer((req, res) => res.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');`;
const skip =
  !detectCgroups() || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;

describe('status shows each instance’s size', { skip }, () => {
  let app: Scaleplane;
  let dir: string;
  let api: string;
  const env = { SCALEPLANE_API_KEY: 'integration-token' };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'status-size-'));
    await writeFile(join(dir, 'app.cjs'), APP);
    app = await startInProcess(
      `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
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

  it('after a resize: `size` in --json, `cpu 0.5, memory 64Mi` on the instance row', async () => {
    const resized = await runCli(['resize', 'web', 'cpu=0.5,memory=64Mi', '--api', api], env);
    assert.equal(resized.code, 0, `resize exits 0: ${resized.stdout}`);
    const sized = () =>
      app.controller
        .status('web')
        .instances.filter(
          (i) => i.state === 'ready' && i.size?.cpu === 0.5 && i.size.memory === 64 * 1024 ** 2,
        );
    await until(() => sized().length === 1, 30_000, 'the resized instance is ready');
    await until(
      () => app.controller.status('web').instances.length === 1,
      30_000,
      'the old instance is gone',
    );

    const json = JSON.parse((await runCli(['status', 'web', '--api', api, '--json'], env)).stdout);
    // Before: no `size` field.
    assert.deepEqual(json[0].instances[0].size, { cpu: 0.5, memory: 67_108_864 }, JSON.stringify(json[0]));
    const { code, stdout } = await runCli(['status', '--api', api], env);
    assert.equal(code, 0, `status exits 0: ${stdout}`);
    const row = stdout.split('\n').find((line) => line.startsWith('  web-'));
    assert.match(row ?? '', / {2}cpu 0\.5, memory 64Mi$/, stdout);
  });
});

describe('formatSize on the instance row', () => {
  const group = (size?: object): GroupStatus[] => [
    {
      name: 'web',
      provider: 'aws',
      desired: 1,
      ready: 1,
      serving: 1,
      minInstances: 1,
      maxInstances: 1,
      autoscaling: false,
      metrics: [],
      instances: [
        {
          id: 'i-1',
          address: '10.0.0.1:80',
          state: 'ready',
          health: 'healthy',
          inFlight: 0,
          startedAt: '2026-01-01T00:00:00.000Z',
          ...(size && { size }),
        },
      ],
      lastDecision: null,
    } as GroupStatus,
  ];
  it('an instance type as is; nothing when the instance has no size', () => {
    assert.match(formatStatus(group({ instanceType: 't3.large' })).split('\n')[1]!, / {2}t3\.large$/);
    assert.match(formatStatus(group({ memory: 1536 * 1024 ** 2 })).split('\n')[1]!, / {2}memory 1536Mi$/);
    assert.match(formatStatus(group()).split('\n')[1]!, /in-flight 0$/);
  });
});

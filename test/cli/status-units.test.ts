// `scaleplane status` printed a memory metric's `average_value` in raw bytes (`memory 52428800.0 /
// target 104857600`) and no figure said its unit (`cpu 3.1 / target 50`). Now each metric says its
// unit, and bytes print in the binary unit the target was written in (`100Mi`); `validate` too.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { formatMetric } from '../../src/cli/format.js';
import { runCli } from '../helpers/cli-process.js';
import { startInProcess } from '../helpers/scaleplane.js';
import { until } from '../helpers/until.js';

const SCALING = `
    scaling:
      metrics:
        - cpu: { target: 50 }
        - memory: { average_value: 100Mi }
        - latency: { target: 200 }
`;

describe('status prints each metric in its unit', () => {
  let app: Scaleplane;
  let api: string;
  const env = { SCALEPLANE_API_KEY: 'integration-token' };
  before(async () => {
    app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
controller: { interval: 1s }
groups:
  web:
    command: node server.js
    min_instances: 1
    max_instances: 2${SCALING}`);
    api = `http://127.0.0.1:${app.apiAddress!.port}`;
  });
  after(() => app?.close());

  it('memory average_value in Mi as written, cpu in %, latency in ms', async () => {
    await until(
      // Both: a first decision can have memory and no cpu yet (a CPU figure needs two samples).
      () =>
        ['cpu', 'memory'].every(
          (name) => app.controller.status('web').metrics.find((m) => m.name === name)?.average != null,
        ),
      15_000,
      'a decision with the cpu and memory averages',
    );
    const { code, stdout } = await runCli(['status', '--api', api], env);
    assert.equal(code, 0, `status exits 0: ${stdout}`);
    const head = stdout.split('\n')[0]!;
    assert.match(head, /cpu \d+\.\d% \/ target 50%/, `cpu in %: ${head}`);
    assert.match(head, /memory \d+\.\dMi \/ target 100Mi/, `memory in Mi, as written: ${head}`);
    assert.match(head, /latency (n\/a|\d+\.\dms) \/ target 200ms/, `latency in ms: ${head}`);
    assert.doesNotMatch(head, /104857600/, `no raw bytes: ${head}`);
    const json = JSON.parse((await runCli(['status', 'web', '--api', api, '--json'], env)).stdout);
    assert.deepEqual(
      json[0].metrics.map((m: { name: string; unit?: string; target: number }) => [m.name, m.unit, m.target]),
      [
        ['cpu', '%', 50],
        ['memory', 'bytes', 104857600],
        ['latency', 'ms', 200],
      ],
      'the API keeps bytes and says the unit',
    );
  });

  it('validate names the size as written', async () => {
    const file = join(tmpdir(), `scaleplane-units-${process.pid}.yaml`);
    await writeFile(
      file,
      `groups:\n  web:\n    command: node server.js\n    min_instances: 1\n    max_instances: 2${SCALING}`,
    );
    const { code, stdout } = await runCli(['validate', '-c', file]);
    assert.equal(code, 0, `validate exits 0: ${stdout}`);
    assert.match(stdout, /memory average_value 100Mi/, `the size as written: ${stdout}`);
  });

  it('bytes take the largest unit the target is a whole number of', () => {
    const cases = [
      [
        { name: 'memory', target: 2 ** 30, average: 805306368, unit: 'bytes' as const },
        'memory 0.8Gi / target 1Gi',
      ],
      [
        { name: 'memory', target: 1536 * 2 ** 20, average: null, unit: 'bytes' as const },
        'memory n/a / target 1536Mi',
      ],
      [
        { name: 'memory', target: 300_000_000, average: 150_000_000, unit: 'bytes' as const },
        'memory 143.1Mi / target 286.1Mi',
      ],
      [{ name: 'memory', target: 80, average: 41.25, unit: '%' as const }, 'memory 41.3% / target 80%'],
      [{ name: 'rps', target: 50, average: 12 }, 'rps 12.0 / target 50'],
    ] as const;
    for (const [metric, want] of cases) assert.equal(formatMetric(metric), want, `${JSON.stringify(metric)}`);
  });
});

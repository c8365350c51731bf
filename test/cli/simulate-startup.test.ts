import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli-process.js';

// `scaling.startup` is the replay's start-up (a local group would otherwise assume 10 s); the
// simulator's own --startup still wins.
const CONFIG = `controller: { interval: 15s }
groups:
  web:
    command: node server.js
    max_instances: 20
    scaling:
      policy: default
      startup: 45s
      metrics:
        - cpu: { target: 70 }
`;

describe('scaleplane simulate --config: scaling.startup', () => {
  let dir: string;
  let trace: string;
  let config: string;
  let unset: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-simstartup-'));
    trace = join(dir, 'workload.txt');
    config = join(dir, 'scaleplane.yaml');
    const counts = Array.from({ length: 3600 }, (_, t) => Math.round(40 + 30 * Math.sin(t / 600)));
    await writeFile(trace, `${counts.join(' ')}\n`);
    await writeFile(config, CONFIG);
    unset = join(dir, 'unset.yaml');
    await writeFile(unset, CONFIG.replace('      startup: 45s\n', ''));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('is the run start-up unless --startup is given', async () => {
    const run = (file: string, ...extra: string[]) =>
      runCli(['simulate', '--trace', trace, '-c', file, '--group', 'web', ...extra]);
    const [configured, flagged, unsetTable, configuredJson, unsetFlaggedJson] = await Promise.all([
      run(config),
      run(config, '--startup', '20'),
      run(unset),
      run(config, '--json'),
      run(unset, '--startup', '45', '--json'),
    ]);
    for (const r of [configured, flagged, unsetTable, configuredJson, unsetFlaggedJson])
      assert.equal(r.code, 0, r.stderr);
    assert.match(configured.stdout, /startup 45s, interval 15s/);
    assert.match(flagged.stdout, /startup 20s, interval 15s/);
    assert.match(unsetTable.stdout, /startup 10s, interval 15s/, 'a local group without it: 10 s');
    // 45 s from the config replays exactly as 45 s from the flag: engine and forecast horizon alike.
    assert.ok(
      JSON.parse(configuredJson.stdout).instance_hours > 0,
      'JSON.parse(configuredJson.stdout).instance_hours > 0',
    );
    assert.equal(configuredJson.stdout, unsetFlaggedJson.stdout);
  });
});

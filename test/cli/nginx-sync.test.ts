// `scaleplane nginx sync -c FILE` against a live API: it writes the include file, runs the test and
// reload commands once, and does so again when the file is already current (an earlier reload may
// have failed, so a current file says nothing about what NGINX runs). The commands append to a log.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Scaleplane } from '../../src/app.js';
import { runCli } from '../helpers/cli-process.js';
import { INTEGRATION_TOKEN, startInProcess } from '../helpers/scaleplane.js';

describe('scaleplane nginx sync', () => {
  let app: Scaleplane;
  let dir: string;
  let api: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-nginx-sync-'));
    app = await startInProcess(
      [
        'api: { listen: 127.0.0.1:0 }',
        'balancer: { listen: 127.0.0.1:0 }',
        'groups:',
        '  web:',
        '    command: node server.js',
      ].join('\n'),
    );
    api = `http://127.0.0.1:${app.apiAddress!.port}`;
  });
  after(async () => {
    await app?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('tests and reloads on every run, also when the file is already current', async () => {
    const log = join(dir, 'commands.log');
    const include = join(dir, 'upstreams.conf');
    const config = join(dir, 'scaleplane.yaml');
    await writeFile(
      config,
      [
        'balancer:',
        '  nginx:',
        `    include_file: ${include}`,
        `    test_command: echo test >> ${log}`,
        `    reload_command: echo reload >> ${log}`,
        'groups:',
        '  web:',
        '    command: node server.js',
        '',
      ].join('\n'),
    );
    const env = { SCALEPLANE_API_KEY: INTEGRATION_TOKEN };
    const first = await runCli(['nginx', 'sync', '-c', config, '--api', api], env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.stdout.trim(), `${include} written, tested, nginx reloaded`);
    const [instance] = app.controller.status('web').instances;
    assert.match(await readFile(include, 'utf8'), new RegExp(`server ${instance!.address} `));
    assert.equal(await readFile(log, 'utf8'), 'test\nreload\n');

    const second = await runCli(['nginx', 'sync', '-c', config, '--api', api], env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.trim(), `${include} unchanged, tested, nginx reloaded`);
    assert.equal(await readFile(log, 'utf8'), 'test\nreload\ntest\nreload\n');
  });
});

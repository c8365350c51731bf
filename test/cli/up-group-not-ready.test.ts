// `scaleplane up` said `group web is up` at info level when none of the group's instances had
// passed its health check (an app whose /healthz answers 404): only a `ready: 0` field told. The
// line now warns with how many are ready; with every instance ready it reads as before.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { type LogLine, UpProcess } from '../helpers/cli-process.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';

const TOKEN = 'up-group-not-ready-token';
const WARN = 40;
const INFO = 30;

/** An app that serves / but answers 404 to /healthz, the mistake the README's own-service step invites. */
const NO_HEALTH_APP = `require('node:http').createServer((req, res) => {
  res.statusCode = req.url === '/' ? 200 : 404;
  res.end();
}).listen(Number(process.env.PORT), '127.0.0.1');
`;

/**
 * config is a one-group scaleplane.yaml. `startTimeout` is short for an app that never passes its
 * health check (up waits that long for it), long for one that does: the demo app, spawned by a
 * spawned `scaleplane up` on a loaded machine, had to answer /healthz within 2 s too, and once
 * it did not, the line was 'group web is up with 0 of 1 instance(s) ready' at warn.
 */
function config(command: string, cwd: string, startTimeout: string): string {
  return `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, warmup_timeout: 1s, health: { path: /healthz, interval: 200ms } }
groups:
  web:
    command: ${command}
    cwd: ${cwd}
    start_timeout: ${startTimeout}
    min_instances: 1
    max_instances: 2
`;
}

async function upLine(t: TestContext, yamlPath: string): Promise<LogLine> {
  const up = new UpProcess(yamlPath, { SCALEPLANE_API_KEY: TOKEN });
  t.after(async () => {
    if (up.child.exitCode !== null || up.child.signalCode !== null) return;
    up.child.kill('SIGINT');
    await up.exited;
  });
  return up.waitFor((l) => String(l.msg).startsWith('group web is up'), 30_000);
}

describe('the line scaleplane up logs once a group started', () => {
  it('warns with how many are ready when an instance never passed its health check', async (t) => {
    const path = await writeTempConfig(config('node app.js', '.', '2s'));
    await writeFile(join(dirname(path), 'app.js'), NO_HEALTH_APP);
    const line = await upLine(t, path);
    assert.equal(line.level, WARN, `logged at level ${line.level}: ${JSON.stringify(line)}`);
    assert.match(String(line.msg), /^group web is up with 0 of 1 instance\(s\) ready/, JSON.stringify(line));
    assert.equal(line.ready, 0, JSON.stringify(line));
  });

  it('says `group web is up` at info level when every instance is ready', async (t) => {
    const line = await upLine(t, await writeTempConfig(config('node server.js', DEMO_DIR, '15s')));
    assert.equal(line.msg, 'group web is up', JSON.stringify(line));
    assert.equal(line.level, INFO, JSON.stringify(line));
    assert.equal(line.ready, 1, JSON.stringify(line));
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { Scaleplane } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { instanceEnv } from '../../src/providers/local/env.js';
import { ROOT, runCli } from '../helpers/cli-process.js';
import { runnable } from '../helpers/runnable.js';
import { DEMO_DIR, writeTempConfig } from '../helpers/scaleplane.js';

// SCALEPLANE_API_KEY_FILE, the `_FILE` convention of Docker and Kubernetes secrets: the server and
// the CLI ignored it, so a key mounted as /run/secrets/… had to be copied into the environment.
const TOKEN = 'key-from-a-mounted-secret-0123456789';

/** noEnvToken clears the token variables the test runner's own environment might carry. */
const noEnvToken = { SCALEPLANE_API_KEY: '', SERVICE_API_KEY: '', SCALEPLANE_API_KEY_FILE: '' };

describe('SCALEPLANE_API_KEY_FILE', () => {
  let app: Scaleplane;
  let api: string;
  let keyFile: string;

  before(async () => {
    keyFile = join(dirname(await writeTempConfig('', 'unused.yaml')), 'api-key');
    // As a secret is mounted: the key and a newline.
    await writeFile(keyFile, `${TOKEN}\n`, { mode: 0o600 });
    app = await Scaleplane.start({
      config: parseConfig(
        [
          'api: { listen: 127.0.0.1:0 }',
          'balancer: { listen: 127.0.0.1:0 }',
          'groups:',
          '  web: { command: node server.js, min_instances: 1 }',
        ].join('\n'),
        { baseDir: DEMO_DIR },
      ),
      logger: createLogger({ level: 'warn', pretty: false }),
      env: { SCALEPLANE_API_KEY_FILE: keyFile },
    });
    api = `http://127.0.0.1:${app.apiAddress!.port}`;
  });
  after(() => app?.close());

  it('the server takes its token from the file (it generated one instead)', async () => {
    assert.equal(app.tokenGenerated, false, 'a token was generated although the file gave one');
    const res = await fetch(`${api}/api/scalability/groups`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(res.status, 200, `the file's token was refused: ${await res.text()}`);
  });

  it('the CLI sends the token of the file', async () => {
    const out = await runCli(['status', '--json', '--api', api], {
      ...noEnvToken,
      SCALEPLANE_API_KEY_FILE: keyFile,
    });
    assert.equal(out.code, 0, `status with the key file: ${out.stderr}`);
    assert.equal(JSON.parse(out.stdout)[0].name, 'web');
  });

  it('a refused token names the file it came from', async () => {
    const wrong = join(dirname(keyFile), 'wrong-key');
    await writeFile(wrong, 'not-the-key-0123456789\n');
    const out = await runCli(['status', '--api', api], { ...noEnvToken, SCALEPLANE_API_KEY_FILE: wrong });
    assert.equal(out.code, 1);
    assert.equal(
      out.stderr,
      `scaleplane: 401: missing or invalid bearer token (the token in ${wrong} ($SCALEPLANE_API_KEY_FILE) was refused: put the API token in that file)\n`,
    );
  });

  it('a file that cannot be read, an empty one, or both variables set: one line naming them, exit 1', async () => {
    const empty = join(dirname(keyFile), 'empty-key');
    await writeFile(empty, '\n');
    const missing = join(dirname(keyFile), 'no-such-key');
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [
        { SCALEPLANE_API_KEY_FILE: missing },
        new RegExp(
          `^scaleplane: SCALEPLANE_API_KEY_FILE ${missing}: ENOENT: no such file or directory.*\\n$`,
        ),
      ],
      [
        { SCALEPLANE_API_KEY_FILE: empty },
        new RegExp(`^scaleplane: SCALEPLANE_API_KEY_FILE ${empty}: the file is empty\\n$`),
      ],
      [
        { SCALEPLANE_API_KEY: TOKEN, SCALEPLANE_API_KEY_FILE: keyFile },
        /^scaleplane: both SCALEPLANE_API_KEY and SCALEPLANE_API_KEY_FILE are set: set one of them\n$/,
      ],
    ];
    for (const [env, stderr] of cases) {
      const out = await runCli(['status', '--api', api], { ...noEnvToken, ...env });
      assert.equal(out.code, 1, `status with ${JSON.stringify(env)}: ${out.stderr}`);
      assert.match(out.stderr, stderr, `status with ${JSON.stringify(env)}`);
    }
  });

  it('`up` with a key file that cannot be read refuses to start, naming it', async () => {
    const config = await writeTempConfig(
      [
        'api: { listen: 127.0.0.1:0 }',
        'balancer: { listen: 127.0.0.1:0 }',
        `groups: { web: { command: node server.js, cwd: ${DEMO_DIR} } }`,
        '',
      ].join('\n'),
    );
    const missing = join(dirname(keyFile), 'no-such-key');
    const child = spawn(process.execPath, [...runnable('src/cli/main.ts'), 'up', '-c', config], {
      cwd: ROOT,
      env: { ...process.env, ...noEnvToken, SCALEPLANE_API_KEY_FILE: missing },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    // Before, it started with a generated token and ran on: that is a failure, not a wait.
    const started = new Promise<'started'>((resolve) =>
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.includes('group web is up')) resolve('started');
      }),
    );
    const code = await Promise.race([once(child, 'exit').then(([c]) => c as number | null), started]);
    if (code === 'started') child.kill('SIGKILL');
    assert.equal(code, 1, `up with an unreadable key file: ${stderr}`);
    assert.match(stderr, new RegExp(`^scaleplane: SCALEPLANE_API_KEY_FILE ${missing}: ENOENT`));
  });

  it('no instance inherits SCALEPLANE_API_KEY_FILE', () => {
    const env = instanceEnv({ PATH: '/bin', SCALEPLANE_API_KEY_FILE: keyFile }, {}, 'PORT', 4242);
    assert.deepEqual(env, { PATH: '/bin', PORT: '4242' }, 'an instance could read the controller’s key');
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { Scaleplane } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { configSecretEnv, instanceEnv, withoutInspectorFlags } from '../../src/providers/local/env.js';
import { DEMO_DIR, INTEGRATION_TOKEN } from '../helpers/scaleplane.js';
import { makeProvider, recordingLogger } from './local-helpers.js';

// Prints the instance's view of the variables, then stays up as a worker.
const PRINT =
  'echo "api=[$SCALEPLANE_API_KEY] service=[$SERVICE_API_KEY] keep=[$KEEP_ME] port=[$PORT]"; exec sleep 30';

describe('local provider: the environment an instance gets', () => {
  it("does not hand Scaleplane's API token to the app; the rest of the environment and the group's env pass", async (t) => {
    const saved = { api: process.env.SCALEPLANE_API_KEY, service: process.env.SERVICE_API_KEY };
    process.env.SCALEPLANE_API_KEY = 'admin-token-of-the-controller-1';
    process.env.SERVICE_API_KEY = 'admin-token-of-the-controller-2';
    process.env.KEEP_ME = 'inherited';
    t.after(() => {
      for (const [name, value] of [
        ['SCALEPLANE_API_KEY', saved.api],
        ['SERVICE_API_KEY', saved.service],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      delete process.env.KEEP_ME;
    });
    let printed!: (line: string) => void;
    const line = new Promise<string>((resolve) => {
      printed = resolve;
    });
    const logger = recordingLogger((l) => {
      if (l.msg.startsWith('api=')) printed(l.msg);
    });
    const provider = makeProvider(t, { command: PRINT }, { healthPath: '', logger });
    await provider.scaleTo(1);
    const port = provider.instances()[0]?.address.split(':')[1];
    assert.equal(await line, `api=[] service=[] keep=[inherited] port=[${port}]`);
  });

  it("passes a token variable the group's env names on purpose", () => {
    const env = instanceEnv(
      { PATH: '/bin', SCALEPLANE_API_KEY: 'ours', SERVICE_API_KEY: 'ours too' },
      { SERVICE_API_KEY: 'the app’s own' },
      'PORT',
      4242,
    );
    assert.deepEqual(env, { PATH: '/bin', SERVICE_API_KEY: 'the app’s own', PORT: '4242' });
  });
  it('tells the instance its stop timeout (SCALEPLANE_STOP_TIMEOUT_MS), unless the group sets it', () => {
    assert.equal(instanceEnv({}, {}, 'PORT', 4242, 10_000).SCALEPLANE_STOP_TIMEOUT_MS, '10000');
    assert.equal(
      instanceEnv({}, { SCALEPLANE_STOP_TIMEOUT_MS: '5000' }, 'PORT', 4242, 10_000)
        .SCALEPLANE_STOP_TIMEOUT_MS,
      '5000',
      "the group's env wins",
    );
  });
});

// A Node instance that says what NODE_OPTIONS it got and whether its inspector is on (NODE_OPTIONS
// never shows in process.execArgv), then stays up.
const NODE_PRINT = `"${process.execPath}" -e 'const url = require("node:inspector").url(); console.log("node_options=[" + (process.env.NODE_OPTIONS ?? "") + "] inspector=" + (url === undefined ? "off" : "on")); setInterval(() => {}, 1e9)'`;

/** printedBy starts one instance with `env` as the group's env and returns the line it printed. */
async function printedBy(t: TestContext, env: Record<string, string>): Promise<string> {
  let printed!: (line: string) => void;
  const line = new Promise<string>((resolve) => {
    printed = resolve;
  });
  const logger = recordingLogger((l) => {
    if (l.msg.startsWith('node_options=')) printed(l.msg);
  });
  const provider = makeProvider(t, { command: NODE_PRINT, env }, { healthPath: '', logger });
  await provider.scaleTo(1);
  return line;
}

describe('local provider: NODE_OPTIONS meant for Scaleplane', () => {
  /** withNodeOptions sets Scaleplane's own NODE_OPTIONS for the test (a port of 0: no clash). */
  function withNodeOptions(t: TestContext, value: string): void {
    const saved = process.env.NODE_OPTIONS;
    process.env.NODE_OPTIONS = value;
    t.after(() => {
      if (saved === undefined) delete process.env.NODE_OPTIONS;
      else process.env.NODE_OPTIONS = saved;
    });
  }

  it('an instance does not get our --inspect; the rest of NODE_OPTIONS reaches it', async (t) => {
    withNodeOptions(t, '--inspect=127.0.0.1:0 --max-old-space-size=200 --inspect-port 0');
    // Before: `node_options=[--inspect=127.0.0.1:0 --max-old-space-size=200 --inspect-port 0] … inspector=on`.
    assert.equal(await printedBy(t, {}), 'node_options=[--max-old-space-size=200] inspector=off');
  });

  it('a group whose env sets NODE_OPTIONS gets it as given, --inspect and all', async (t) => {
    withNodeOptions(t, '--max-old-space-size=200');
    assert.equal(
      await printedBy(t, { NODE_OPTIONS: '--inspect=127.0.0.1:0' }),
      'node_options=[--inspect=127.0.0.1:0] inspector=on',
    );
  });

  it('withoutInspectorFlags drops each inspector flag with its value and keeps the rest as written', () => {
    const cases: [string, string | undefined][] = [
      ['--inspect', undefined],
      ['--inspect-brk=0.0.0.0:9229 --require ./hook.js', '--require ./hook.js'],
      ['--inspect-port 9300 --enable-source-maps', '--enable-source-maps'],
      [
        '--require "/a b/hook.js" --debug-port 1 --inspect_brk --trace-warnings',
        '--require "/a b/hook.js" --trace-warnings',
      ],
      ['--inspect-wait --inspect-publish-uid stderr,http --debug-brk', undefined],
      ['--require="a\\" --inspect b"', '--require="a\\" --inspect b"'],
      ['  --max-old-space-size=200  ', '--max-old-space-size=200'],
    ];
    for (const [given, expected] of cases) assert.equal(withoutInspectorFlags(given), expected, given);
  });
});

describe("Scaleplane's own secrets named in its config", () => {
  it("configSecretEnv names the Cloudflare token and the alert sinks' url_env, not a Sentry DSN", () => {
    const config = parseConfig(
      [
        'balancer: { cloudflare: { zone_id: abc123, token_env: MY_CF_TOKEN } }',
        'alerts:',
        '  sinks:',
        '    - slack: { url_env: SLACK_HOOK }',
        '    - webhook: { url_env: PAGER_HOOK }',
        '    - webhook: { url: "http://127.0.0.1:9/public" }',
        '    - sentry: {}',
        'groups: { web: { command: node server.js } }',
      ].join('\n'),
      { baseDir: DEMO_DIR },
    );
    assert.deepEqual(configSecretEnv(config).sort(), ['MY_CF_TOKEN', 'PAGER_HOOK', 'SLACK_HOOK']);
  });

  it('a local instance of `scaleplane up` gets neither the Cloudflare token nor a secret alert URL', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-secret-env-'));
    const seen = join(dir, 'seen.txt');
    const secrets = {
      SP_TEST_CF_TOKEN: 'cloudflare-token-of-the-controller',
      SP_TEST_SLACK_URL: 'http://127.0.0.1:9/services/T000/B000/slack-secret',
    };
    Object.assign(process.env, secrets, { SP_TEST_KEEP: 'inherited' });
    t.after(async () => {
      for (const name of [...Object.keys(secrets), 'SP_TEST_KEEP']) delete process.env[name];
      await rm(dir, { recursive: true, force: true });
    });
    const config = parseConfig(
      [
        'api: { listen: 127.0.0.1:0 }',
        'balancer:',
        '  listen: 127.0.0.1:0',
        '  cloudflare: { zone_id: abc123, token_env: SP_TEST_CF_TOKEN, api_base: "http://127.0.0.1:9" }',
        'alerts: { sinks: [ { slack: { url_env: SP_TEST_SLACK_URL } } ] }',
        'groups:',
        '  web:',
        `    command: echo "cf=[$SP_TEST_CF_TOKEN] slack=[$SP_TEST_SLACK_URL] keep=[$SP_TEST_KEEP]" > ${seen} && exec node server.js`,
      ].join('\n'),
      { baseDir: DEMO_DIR },
    );
    const app = await Scaleplane.start({
      config,
      logger: createLogger({ level: 'error', pretty: false }),
      env: { ...process.env, SCALEPLANE_API_KEY: INTEGRATION_TOKEN },
    });
    t.after(() => app.close());
    // Before: `cf=[cloudflare-token-of-the-controller] slack=[http://…/slack-secret]`.
    assert.equal((await readFile(seen, 'utf8')).trim(), 'cf=[] slack=[] keep=[inherited]');
  });
});

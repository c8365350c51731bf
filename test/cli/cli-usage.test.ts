// The CLI's --version, --help and usage errors: each case is a CLI process of its own, no Scaleplane
// running. Split from cli.test.ts, which took 78 s on a quiet machine and hit the 300 s file timeout
// in a CI run beside other work (each CLI process 10-17 s at load 45).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ROOT, runCli } from '../helpers/cli-process.js';
import { freePort } from '../helpers/ports.js';

describe('--version', () => {
  it('prints package.json version and exits 0, as -V too', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.match(version, /^\d+\.\d+\.\d+/);
    for (const flag of ['--version', '-V']) {
      const { code, stdout, stderr } = await runCli([flag]);
      assert.deepEqual([code, stdout, stderr], [0, `${version}\n`, ''], flag);
    }
  });
});

// Each case below is a CLI process of its own (tsx, ~0.3 s of CPU, seconds on a loaded machine)
// that shares nothing with the others: four at a time.
describe('--help', { concurrency: 4 }, () => {
  const commands = ['up', 'validate', 'schema', 'status', 'scale', 'events', 'resize', 'simulate'];
  for (const command of [...commands, 'nginx', 'nginx render', 'nginx sync', 'mcp']) {
    it(`${command} --help`, async () => {
      const { code, stdout } = await runCli([...command.split(' '), '--help']);
      assert.equal(code, 0);
      assert.match(stdout, new RegExp(`Usage: scaleplane ${command}`));
    });
  }

  it('--help says where the token comes from and what the exit codes mean', async () => {
    // Nothing in --help named a way to authenticate, nor the exit codes the README documents.
    const root = await runCli(['--help']);
    assert.match(
      root.stdout,
      /\$SCALEPLANE_API_KEY, else the file \$SCALEPLANE_API_KEY_FILE names .*\n.*, else \$SERVICE_API_KEY/,
    );
    assert.match(root.stdout, /Exit status:\n {2}0 success; 1 a failure .*\n {2}2 a usage error/);
    for (const command of ['status', 'scale', 'events', 'resize', 'nginx render', 'nginx sync', 'mcp']) {
      const { stdout } = await runCli([...command.split(' '), '--help']);
      assert.match(stdout, /Token \(commands that take --api\):/, command);
    }
    const validate = await runCli(['validate', '--help']);
    assert.doesNotMatch(validate.stdout, /Token/);
  });

  it('up --help lists every --log-level it accepts', async () => {
    const { stdout } = await runCli(['up', '--help']);
    assert.match(stdout, /--log-level <level>\s+trace, debug, info, warn, error, fatal, silent/);
  });
});

describe('usage errors exit 2, like the CLI’s own (events --group, simulate), runtime failures 1', {
  concurrency: 4,
}, () => {
  // Commander exited 1 on these, the same code as "the API refused": a script could not tell them apart.
  const cases: [string[], RegExp][] = [
    [['bogus'], /^error: unknown command 'bogus'/],
    [['status', '--nope'], /^error: unknown option '--nope'/],
    [['scale', 'web'], /^error: missing required argument 'count'/],
    [['validate'], /^error: required option '-c, --config <file>' not specified/],
    [
      ['events', '--limit', 'ten'],
      /^error: option '--limit <n>' argument 'ten' is invalid\. expected a whole number/,
    ],
    [['events', '--since', '-1'], /^error: option '--since <seq>' argument '-1' is invalid/],
    // Printed "(no events)" (exit 0) over a journal that had entries: the API answers limit=0 with none.
    [
      ['events', '--limit', '0'],
      /^error: option '--limit <n>' argument '0' is invalid\. expected a whole number ≥ 1/,
    ],
    // Printed every group's events (exit 0) before: the empty filter was dropped.
    [
      ['events', '--group', ''],
      /^error: option '--group <name>' argument '' is invalid\. expected a group name/,
    ],
    [
      ['events', '--group', ' '],
      /^error: option '--group <name>' argument ' ' is invalid\. expected a group name/,
    ],
    [['nginx'], /^Usage: scaleplane nginx/],
    // "Invalid URL" (exit 1), or with stdin closed, a hang.
    [
      ['mcp', '--api', 'localhost:9090'],
      /^scaleplane: --api: not an http:\/\/ or https:\/\/ URL: localhost:9090 /,
    ],
    // The policy ran twice: two identical rows (and JSON lines, plot series).
    [
      ['simulate', '--trace', 'x.txt', '--policy', 'hpa', '--policy', 'default', '--policy', 'hpa'],
      /^error: option '--policy <name>' argument 'hpa' is invalid\. hpa is given twice\n/,
    ],
    // The last one won, silently: every instance was resized to 2 cores. (Port 9 is one fetch
    // refuses to call: without the check, nothing on this machine is asked to resize.)
    [
      ['resize', 'web', 'cpu=1,memory=256Mi,cpu=2', '--api', 'http://127.0.0.1:9'],
      /^error: command-argument value 'cpu=1,memory=256Mi,cpu=2' is invalid for argument 'size'\. cpu given twice \(cpu=1, cpu=2\): give it once\n/,
    ],
    // Exit 1 before, as if the server had failed, and the line named no flag.
    [
      ['mcp', '--http', 'bogus'],
      /^scaleplane: --http: invalid listen address "bogus": use host:port, \[ipv6\]:port or a bare port\n$/,
    ],
    [
      ['mcp', '--http', '127.0.0.1:99999'],
      /^scaleplane: --http: invalid listen address "127\.0\.0\.1:99999": the port must be an integer from 0 to 65535\n$/,
    ],
    [
      ['status', '--api', 'not a url'],
      /^scaleplane: --api: not an http:\/\/ or https:\/\/ URL: not a url\n$/,
    ],
    // Exit 1 with a bare "Invalid URL" before: `localhost:` was taken for the URL's scheme.
    [
      ['status', '--api', 'localhost:9090'],
      /^scaleplane: --api: not an http:\/\/ or https:\/\/ URL: localhost:9090 \(did you mean http:\/\/localhost:9090\?\)\n$/,
    ],
  ];
  for (const [args, message] of cases) {
    it(args.join(' '), async () => {
      const { code, stdout, stderr } = await runCli(args);
      assert.deepEqual([code, stdout], [2, ''], stderr);
      assert.match(stderr, message);
    });
  }

  // The whole help followed each of these (showHelpAfterError()), pushing the error out of view:
  // now the error and one line naming the failing command's --help, as git and kubectl print.
  const hinted: [string[], string][] = [
    [['status', '--nope'], "error: unknown option '--nope'\nSee 'scaleplane status --help'.\n"],
    [['statu'], "error: unknown command 'statu'\n(Did you mean status?)\nSee 'scaleplane --help'.\n"],
    [
      ['nginx', 'render', '--nope'],
      "error: unknown option '--nope'\nSee 'scaleplane nginx render --help'.\n",
    ],
    [
      ['scale', 'web', '+x'],
      "error: command-argument value '+x' is invalid for argument 'count'. expected +N, -N or N (e.g. +2, -1, 3)\nSee 'scaleplane scale --help'.\n",
    ],
    // `validate FILE`, as promtool and nginx -t users write it, said only "required option '-c,
    // --config <file>' not specified"; `up FILE` "too many arguments": neither named -c.
    [
      ['validate', 'examples/demo/scaleplane.yaml'],
      "error: unexpected argument 'examples/demo/scaleplane.yaml': give the config file with -c: scaleplane validate -c examples/demo/scaleplane.yaml\nSee 'scaleplane validate --help'.\n",
    ],
    [
      ['up', 'prod.yml'],
      "error: unexpected argument 'prod.yml': give the config file with -c: scaleplane up -c prod.yml\nSee 'scaleplane up --help'.\n",
    ],
    [
      ['up', 'now'],
      "error: too many arguments for 'up'. Expected 0 arguments but got 1.\nSee 'scaleplane up --help'.\n",
    ],
    [
      ['validate', '-c', 'examples/demo/scaleplane.yaml', 'x.yaml'],
      "error: too many arguments for 'validate'. Expected 0 arguments but got 1.\nSee 'scaleplane validate --help'.\n",
    ],
  ];
  for (const [args, expected] of hinted) {
    it(`${args.join(' ')}: the error and a one-line hint, not the whole help`, async () => {
      const { code, stdout, stderr } = await runCli(args);
      assert.deepEqual([code, stdout, stderr], [2, '', expected]);
    });
  }

  it('mcp over stdio: the client closing stdin ends it with exit 0 (it was 13)', async () => {
    // runCli's stdin is /dev/null: the client hangs up at once. No API is needed until a tool call.
    const port = await freePort();
    const { code, stdout, stderr } = await runCli(['mcp', '--api', `http://127.0.0.1:${port}`]);
    assert.deepEqual([code, stdout, stderr], [0, '', '']);
  });

  it('an API nobody listens on: exit 1, one line naming it', async () => {
    const port = await freePort();
    const { code, stderr } = await runCli(['status', '--api', `http://127.0.0.1:${port}`]);
    assert.equal(code, 1);
    assert.equal(
      stderr,
      `scaleplane: cannot reach the control API at http://127.0.0.1:${port}: connect ECONNREFUSED 127.0.0.1:${port}\n`,
    );
  });
});

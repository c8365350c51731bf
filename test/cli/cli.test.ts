import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tokenFilePath } from '../../src/api/index.js';
import type { Scaleplane } from '../../src/app.js';
import { ROOT, runCli } from '../helpers/cli-process.js';
import { runnable } from '../helpers/runnable.js';
import { DEMO_DIR, settled, startInProcess, writeTempConfig } from '../helpers/scaleplane.js';

describe('scaleplane validate', () => {
  it('names the YAML path and line of a broken file and exits non-zero', async () => {
    const file = await writeTempConfig(
      [
        'groups:',
        '  web:',
        '    command: node server.js',
        '    min_instances: 4',
        '    max_instances: 2',
        '',
      ].join('\n'),
    );
    const { code, stderr } = await runCli(['validate', '-c', file]);
    assert.equal(code, 1);
    assert.match(stderr, /groups\.web\.max_instances \(line 5\)/);
  });

  // `up` starts no instance in a cwd that is not there (`cannot start: cwd … does not exist`), and
  // validate called such a file valid (exit 0).
  it('refuses a local group whose cwd is no folder, at its line, in either form', async () => {
    const full = await writeTempConfig(
      [
        'groups:',
        '  web:',
        '    command: node server.js',
        '    cwd: /nonexistent/app',
        '  api:',
        '    command: x',
        '',
      ].join('\n'),
    );
    const one = await runCli(['validate', '-c', full]);
    assert.deepEqual(
      [one.code, one.stdout, one.stderr],
      [
        1,
        '',
        `invalid config ${full}: groups.web.cwd (line 4): no such folder: /nonexistent/app (up would start no instance of web)\n`,
      ],
    );
    const short = await writeTempConfig(['command: node server.js', `cwd: ${full}`, ''].join('\n'));
    const two = await runCli(['validate', '-c', short]);
    assert.deepEqual(
      [two.code, two.stderr],
      [
        1,
        `invalid config ${short}: cwd (line 2): not a folder: ${full} (up would start no instance of web)\n`,
      ],
    );
  });

  it('accepts the short form and says what it means', async () => {
    const file = await writeTempConfig(
      [
        'command: node server.js',
        'scaling:',
        '  min_instances: 1',
        '  max_instances: 5',
        '  threshold: 80  # CPU percent',
        '',
      ].join('\n'),
    );
    const { code, stdout } = await runCli(['validate', '-c', file]);
    assert.equal(code, 0, stdout);
    assert.match(stdout, /group web: node server\.js \(1\.\.5, scaled on cpu target 80\)/);
  });

  it('says a mode hpa group is scaled by its HPA, not by hand', async () => {
    // It read "scaled by hand" while the HPA Scaleplane writes scaled it on cpu at 80 %.
    const kube = ['groups:', '  web:', '    provider: kubernetes', '    namespace: shop', '    name: web'];
    const bare = await writeTempConfig([...kube, '    mode: hpa', '    max_instances: 5', ''].join('\n'));
    const cpu = await writeTempConfig(
      [
        ...kube,
        '    mode: hpa',
        '    max_instances: 5',
        '    scaling:',
        '      metrics: [ { cpu: { target: 60 } } ]',
        '',
      ].join('\n'),
    );
    const bareOut = await runCli(['validate', '-c', bare]);
    assert.equal(bareOut.code, 0, bareOut.stderr);
    assert.match(
      bareOut.stdout,
      /group web: kubernetes \(1\.\.5, scaled by its HorizontalPodAutoscaler on cpu target 80 \(mode: hpa\)\)/,
    );
    const cpuOut = await runCli(['validate', '-c', cpu]);
    assert.match(cpuOut.stdout, /scaled by its HorizontalPodAutoscaler on cpu target 60 \(mode: hpa\)/);
  });

  it('validates the bundled demo config', async () => {
    const { code } = await runCli(['validate', '-c', `${DEMO_DIR}/scaleplane.yaml`]);
    assert.equal(code, 0);
  });

  it('reads api.token_file as up does: a token up would refuse makes the file invalid', async () => {
    const file = await writeTempConfig(
      ['api: { token_file: tokens }', 'groups:', '  web:', '    command: node server.js', ''].join('\n'),
    );
    const tokens = join(dirname(file), 'tokens');
    await writeFile(tokens, 'ops admin too-short\n', { mode: 0o600 });
    const refused = await runCli(['validate', '-c', file]);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, /tokens \(line 1\): token must be at least 16 characters/);
    await writeFile(tokens, 'ops admin long-enough-0123456789\n', { mode: 0o600 });
    const accepted = await runCli(['validate', '-c', file]);
    assert.equal(accepted.code, 0, accepted.stderr);
  });

  it('refuses a balancer.cloudflare.token_file no purge could use, and warns when no token is given', async () => {
    // What the check accepts and refuses is tested in test/api/cache-purge.test.ts; this is the wiring.
    const config = (cloudflare: string) =>
      [
        'balancer:',
        `  cloudflare: { zone_id: abc123, ${cloudflare} }`,
        'groups:',
        '  web: { command: node s.js }',
        '',
      ].join('\n');
    const file = await writeTempConfig(config('token_file: cf-token'));
    const missing = await runCli(['validate', '-c', file]);
    assert.equal(missing.code, 1, missing.stdout);
    assert.match(missing.stderr, /^scaleplane: balancer\.cloudflare\.token_file \S+cf-token: ENOENT/);
    // `up` refuses the same file before it starts anything.
    await assert.rejects(startInProcess(config('token_file: cf-token'), dirname(file)), {
      message: /^balancer\.cloudflare\.token_file \S+cf-token: ENOENT/,
    });
    const unset = await runCli(
      ['validate', '-c', await writeTempConfig(config('token_env: CF_TEST_TOKEN'))],
      {
        CF_TEST_TOKEN: '',
      },
    );
    assert.equal(unset.code, 0, unset.stderr);
    assert.match(
      unset.stderr,
      /warning: no Cloudflare API token: set CF_TEST_TOKEN or cloudflare\.token_file/,
    );
  });

  it('reports a missing file in one line', async () => {
    const { code, stderr } = await runCli(['validate', '-c', '/nonexistent/scaleplane.yaml']);
    assert.equal(code, 1);
    // It was two lines, the first (`invalid config FILE:`) without the reason: a script's `head -1`
    // or a supervisor's status line showed no cause.
    assert.equal(stderr, 'invalid config /nonexistent/scaleplane.yaml: cannot read the file (ENOENT)\n');
  });

  it('prints one problem on one line, several each on its own line under the file', async () => {
    const one = await writeTempConfig(
      ['groups:', '  web:', '    command: x', '    min_instances: -1', ''].join('\n'),
    );
    const single = await runCli(['validate', '-c', one]);
    assert.equal(single.code, 1);
    assert.equal(single.stderr, `invalid config ${one}: groups.web.min_instances (line 4): must be >= 0\n`);
    const two = await writeTempConfig(
      ['groups:', '  web:', '    command: x', '    min_instances: -1', '    mni_instances: 1', ''].join('\n'),
    );
    const several = await runCli(['validate', '-c', two]);
    assert.equal(several.code, 1);
    assert.deepEqual(several.stderr.split('\n'), [
      `invalid config ${two}:`,
      'groups.web.min_instances (line 4): must be >= 0',
      'groups.web.mni_instances (line 5): unknown key (did you mean "min_instances"?)',
      '',
    ]);
  });
});

describe('scaleplane up --log-level', () => {
  it('an unknown level is a usage error naming the flag, before anything starts', async () => {
    // pino's own "default level:loud must be included in custom levels" named neither.
    const { code, stderr } = await runCli([
      'up',
      '--log-level',
      'loud',
      '-c',
      '/nonexistent/scaleplane.yaml',
    ]);
    assert.equal(code, 2);
    assert.match(
      stderr,
      /^error: option '--log-level <level>' argument 'loud' is invalid\. expected one of trace, debug, info, warn, error, fatal, silent\n/,
    );
  });
});

describe('the short form runs', () => {
  let app: Scaleplane;
  after(() => app?.close());

  it('starts one group web scaled on CPU', async () => {
    app = await startInProcess(
      [
        'command: node server.js',
        'api: { listen: 127.0.0.1:0 }',
        'balancer: { listen: 127.0.0.1:0 }',
        'scaling:',
        '  min_instances: 1',
        '  max_instances: 5',
        '  threshold: 80',
      ].join('\n'),
    );
    const status = app.controller.status('web');
    assert.equal(status.ready, 1);
    assert.deepEqual(
      status.metrics.map((m) => [m.name, m.target]),
      [['cpu', 80]],
    );
    const { host, port } = app.balancerAddress!;
    assert.equal((await fetch(`http://${host}:${port}/`)).status, 200);
  });
});

describe('status, scale and events against a running Scaleplane', () => {
  let app: Scaleplane;
  let api: string;
  const env = { SCALEPLANE_API_KEY: 'integration-token' };
  before(async () => {
    app = await startInProcess(`
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0 }
groups:
  web: { command: node server.js, min_instances: 1, max_instances: 3 }
`);
    api = `http://127.0.0.1:${app.apiAddress!.port}`;
  });
  after(() => app?.close());

  it('scale +2, -1 and a count; status and events show it', async () => {
    assert.equal((await runCli(['scale', 'web', '+2', '--api', api], env)).stdout.trim(), 'web: 1 → 3');
    await settled(app, 'web', 3, 15_000);
    assert.equal((await runCli(['scale', 'web', '-1', '--api', api], env)).stdout.trim(), 'web: 3 → 2');
    assert.equal((await runCli(['scale', '--api', api, 'web', '1'], env)).stdout.trim(), 'web: 2 → 1');
    const status = await runCli(['status', '--api', api, '--json'], env);
    const groups = JSON.parse(status.stdout) as { name: string; desired: number }[];
    assert.deepEqual(
      groups.map((g) => [g.name, g.desired]),
      [['web', 1]],
    );
    const events = await runCli(['events', '--api', api], env);
    assert.equal(events.stdout.match(/ManualScale/g)?.length, 3);
  });

  it('beyond max: exit 1, one line, nothing changed', async () => {
    const { code, stderr } = await runCli(['scale', 'web', '9', '--api', api], env);
    assert.equal(code, 1);
    assert.match(stderr, /^scaleplane: 409: .*nothing changed\n$/);
    assert.equal(app.controller.group('web').desired(), 1);
  });

  it('beyond min/max by a step: the refusal shows the sum, not only its result', async () => {
    // `scale web -5` from 1 read "-4 requested", a count nobody typed.
    const down = await runCli(['scale', 'web', '-5', '--api', api], env);
    assert.equal(down.code, 1);
    assert.equal(
      down.stderr,
      'scaleplane: 409: group "web" must stay within 1..3 instances; 1 - 5 = -4 requested, nothing changed\n',
    );
    const up = await runCli(['scale', 'web', '+3', '--api', api], env);
    assert.match(up.stderr, /; 1 \+ 3 = 4 requested, nothing changed\n$/);
    assert.equal(app.controller.group('web').desired(), 1);
  });

  it('scale --json prints the answer as JSON, as status and events do', async () => {
    // Unknown option (exit 2) before: a script had to parse "web: 1 → 2".
    const out = await runCli(['scale', 'web', '+1', '--json', '--api', api], env);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), { group: 'web', previous: 1, desired: 2 });
    const back = await runCli(['scale', 'web', '-1', '--api', api, '--json'], env);
    assert.deepEqual(JSON.parse(back.stdout), { group: 'web', previous: 2, desired: 1 });
  });

  it('a wrong token is refused, in one line saying which token', async () => {
    const { code, stderr } = await runCli(['status', '--api', api], { SCALEPLANE_API_KEY: 'wrong' });
    assert.equal(code, 1);
    // It said "set SCALEPLANE_API_KEY" to someone who had set it.
    assert.equal(
      stderr,
      'scaleplane: 401: missing or invalid bearer token (the token in $SCALEPLANE_API_KEY was refused: set it to the API token)\n',
    );
    const other = await runCli(['status', '--api', api], {
      SCALEPLANE_API_KEY: '',
      SERVICE_API_KEY: 'wrong',
    });
    assert.match(other.stderr, /\(the token in \$SERVICE_API_KEY was refused/);
  });

  it('a token file that is there but not trusted is named in the 401, with why', async (t) => {
    // As after `sudo scaleplane up` or a copied file: the CLI skipped it and said only "no token sent".
    const file = tokenFilePath(Number(new URL(api).port));
    t.after(() => rm(file, { force: true }));
    await rm(file, { force: true });
    await writeFile(file, 'some-token-0123456789\n', { mode: 0o644 });
    const { code, stderr } = await runCli(['status', '--api', api], {
      SCALEPLANE_API_KEY: '',
      SERVICE_API_KEY: '',
    });
    assert.equal(code, 1);
    assert.equal(
      stderr,
      `scaleplane: 401: missing or invalid bearer token (no token sent (not using ${file}: others may read or write it (mode 644, not 600)): set SCALEPLANE_API_KEY to the API token)\n`,
    );
  });

  it('--api naming something else (the balancer): one line, not "groups is not iterable"', async () => {
    const { host, port } = app.balancerAddress!;
    // The app behind it answers JSON to any path: `scale` printed "web: undefined → undefined" and
    // exited 0, `resize` likewise, and `status web` a TypeError.
    const commands = [
      ['status'],
      ['events'],
      ['nginx', 'render'],
      ['status', 'web'],
      ['scale', 'web', '+1'],
      ['resize', 'web', 'cpu=1'],
    ];
    for (const args of commands) {
      const { code, stdout, stderr } = await runCli([...args, '--api', `http://${host}:${port}`], env);
      assert.deepEqual([code, stdout], [1, ''], args.join(' '));
      assert.match(
        stderr,
        /^scaleplane: http:\/\/127\.0\.0\.1:\d+: (GET|POST) \/api\/scalability\/\S+ answered .*is --api the Scaleplane control API\?\n$/,
        args.join(' '),
      );
    }
  });

  it('a reader that goes away (nginx render | head -1) ends the output quietly, exit 0', async () => {
    // A write straight to stdout threw EPIPE as an unhandled 'error' event: a stack trace, exit 1.
    // The pipe is closed as the child starts, long before its first write (after the API's answer).
    const child = spawn(process.execPath, [...runnable('src/cli/main.ts'), 'nginx', 'render', '--api', api], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const [code] = (await once(child, 'close')) as [number | null];
    assert.deepEqual([code, stderr], [0, '']);
  });

  it('events --group for a group that does not exist: usage error naming it and the groups (exit 2)', async () => {
    const { code, stdout, stderr } = await runCli(['events', '--group', 'wbe', '--api', api], env);
    assert.equal(code, 2);
    assert.equal(stdout, '');
    assert.equal(
      stderr,
      'scaleplane: --group wbe: no such group in the running Scaleplane (its groups: web)\n',
    );
    // A group that exists but has nothing to show still prints "(no events)" and exits 0: nothing
    // after the newest entry. (A since past it is another journal's seq: 410, see below.)
    const all = await runCli(['events', '--json', '--limit', '1000', '--api', api], env);
    const newest = Math.max(0, ...(JSON.parse(all.stdout) as { seq: number }[]).map((e) => e.seq));
    const quiet = await runCli(['events', '--group', 'web', '--since', String(newest), '--api', api], env);
    assert.deepEqual([quiet.code, quiet.stdout], [0, '(no events)\n']);
    const past = await runCli(['events', '--group', 'web', '--since', '999999', '--api', api], env);
    assert.equal(past.code, 1, `a since past the newest entry: ${past.stderr}`);
    assert.match(past.stderr, /since: 999999 is past the newest entry of this journal/);
  });

  it('a malformed count is a usage error', async () => {
    const { code, stderr } = await runCli(['scale', 'web', '+x', '--api', api], env);
    assert.equal(code, 2);
    assert.match(stderr, /\+N, -N or N/);
    // A step of 0 went to the API and came back 400 `instances: must be >= 1`, exit 1.
    for (const zero of ['+0', '-0']) {
      const step = await runCli(['scale', 'web', zero, '--api', api], env);
      assert.equal(step.code, 2, `${zero}: ${step.stderr}`);
      assert.match(step.stderr, /changes nothing: give \+N or -N with N ≥ 1, or the count N/, zero);
    }
  });
});

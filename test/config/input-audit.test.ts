// Sloppy and hostile values an operator writes in scaleplane.yaml, found by the input audit: each
// is refused with the path and line of the offending key, and a message that says what is wrong.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue, loadConfig, parseConfig } from '../../src/config/index.js';

/** lines joins its arguments with newlines, so argument N is line N of the YAML. */
function lines(...text: string[]): string {
  return `${text.join('\n')}\n`;
}

/** issuesOf parses text that must be invalid and returns its issues. */
function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, { baseDir: '/srv/app' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail(`expected a ConfigError for:\n${text}`);
}

/** GROUP is a valid local group `web`, lines 1-6 of each case below. */
const GROUP = [
  'groups:',
  '  web:',
  '    command: node server.js',
  '    min_instances: 1',
  '    max_instances: 3',
  '    start_timeout: START',
];

describe('config input audit', () => {
  // min_ready (a Deployment's minReadySeconds): a duration, 0 or more, named with its line.
  it('min_ready: parsed as a duration, 0s by default; a bad one is named with its line', () => {
    const ok = parseConfig(lines(...GROUP.map((l) => l.replace('START', '30s')), '    min_ready: 10s'), {
      baseDir: '/srv/app',
    });
    const provider = ok.groups.web!.provider;
    assert.equal(provider.provider === 'local' && provider.minReady, 10_000, 'min_ready: 10s is 10000 ms');
    const byDefault = parseConfig(lines(...GROUP.map((l) => l.replace('START', '30s'))), {
      baseDir: '/srv/app',
    }).groups.web!.provider;
    assert.equal(byDefault.provider === 'local' && byDefault.minReady, 0, 'min_ready defaults to 0');
    for (const bad of ['-5s', 'soon']) {
      const issues = issuesOf(lines(...GROUP.map((l) => l.replace('START', '30s')), `    min_ready: ${bad}`));
      assert.deepEqual(
        issues.map(({ path, line }) => ({ path, line })),
        [{ path: 'groups.web.min_ready', line: 7 }],
        `min_ready: ${bad}: ${JSON.stringify(issues)}`,
      );
    }
  });

  // Node.js timers hold at most 2^31-1 ms; a longer delay fires after 1 ms. `health.interval: 30d`
  // probed each instance about 300 times a second (3,181 probes in 10 s of `scaleplane up`).
  it('a duration that drives a timer is at most 2^31-1 ms (24.8 days), named with its line', () => {
    const text = lines(
      ...GROUP.map((line) => line.replace('START', '30d')), // groups.web.start_timeout, line 6
      'controller:',
      '  interval: 25d', // line 8
      'balancer:',
      '  request_timeout: 2147484s', // line 10: 2^31-1 ms is 2147483.647 s
      '  health:',
      '    interval: 30d', // line 12
      '  outlier: { max_ejection_time: 9999d }', // line 13
    );
    const issues = issuesOf(text);
    assert.deepEqual(
      issues.map(({ path, line }) => ({ path, line })),
      [
        { path: 'groups.web.start_timeout', line: 6 },
        { path: 'controller.interval', line: 8 },
        { path: 'balancer.request_timeout', line: 10 },
        { path: 'balancer.health.interval', line: 12 },
        { path: 'balancer.outlier.max_ejection_time', line: 13 },
      ],
      JSON.stringify(issues),
    );
    for (const issue of issues)
      assert.match(issue.message, /at most 2147483647 ms \(about 24\.8 days\)/, issue.message);
  });

  it('2^31-1 ms itself is taken, and lifetimes that drive no timer may be longer', () => {
    const config = parseConfig(
      lines(
        ...GROUP.map((line) => line.replace('START', '30s')),
        'controller:',
        '  interval: 24d20h31m23s647ms',
        'balancer:',
        '  cache: { default_ttl: 365d, keep_stale: 400d }',
        'alerts:',
        '  repeat_interval: 90d',
      ),
      { baseDir: '/srv/app' },
    );
    assert.equal(config.controller.interval, 2 ** 31 - 1);
  });

  // JSON.stringify(Infinity) is "null": `min_instances: 1e309` read "expected a number, got null".
  it('an infinite or NaN number is called that, not "nothing" or null', () => {
    for (const [value, word] of [
      ['1e309', 'infinity'],
      ['.inf', 'infinity'],
      ['-.inf', 'minus infinity'],
      ['.nan', 'NaN'],
    ] as const) {
      const issues = issuesOf(
        lines(
          ...GROUP.map((line) =>
            line.replace('START', '30s').replace('min_instances: 1', `min_instances: ${value}`),
          ),
        ),
      );
      const issue = issues.find((i) => i.path === 'groups.web.min_instances');
      assert.ok(issue !== undefined, `${value}: ${JSON.stringify(issues)}`);
      assert.equal(issue.line, 4, `${value}: ${JSON.stringify(issue)}`);
      assert.ok(issue.message.includes(`got ${word}`), `${value}: ${issue.message}`);
      assert.ok(!issue.message.includes('null'), `${value}: ${issue.message}`);
    }
  });

  // Node.js reads maxHeaderSize 0 as its default: `max_header_size: 0` quietly meant 16Ki.
  it('max_header_size 0 is refused, not read as Node.js default', () => {
    const issues = issuesOf(
      lines(...GROUP.map((line) => line.replace('START', '30s')), 'balancer:', '  max_header_size: 0'),
    );
    assert.deepEqual(
      issues.map(({ path, line }) => ({ path, line })),
      [{ path: 'balancer.max_header_size', line: 8 }],
      JSON.stringify(issues),
    );
    assert.match(issues[0]!.message, /more than 0 bytes/, issues[0]!.message);
  });

  // `http://…:8080` has two colons and was told "write IPv6 hosts in brackets".
  it('a listen address with a scheme is told to drop it', () => {
    const issues = issuesOf(
      lines(...GROUP.map((line) => line.replace('START', '30s')), 'api:', '  listen: http://127.0.0.1:9090'),
    );
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.equal(issues[0]!.path, 'api.listen', JSON.stringify(issues));
    assert.equal(issues[0]!.line, 8, JSON.stringify(issues));
    assert.match(issues[0]!.message, /without a scheme, such as 127\.0\.0\.1:9090/, issues[0]!.message);
    assert.ok(!issues[0]!.message.includes('IPv6'), issues[0]!.message);
  });

  // A null key (`~:`) is "" in the parsed value; its line was the parent's.
  it('a null group name is reported at its own line', () => {
    const issues = issuesOf(lines('groups:', '  web: { command: a }', '  ~:', '    command: b'));
    assert.deepEqual(
      issues.map(({ path, line }) => ({ path, line })),
      [{ path: 'groups.', line: 3 }],
      JSON.stringify(issues),
    );
  });

  // The environment holds strings, and YAML reads a plain 3.10 as the number 3.1: the process got
  // PYTHON_VERSION=3.1, ZIP=1234 for 01234, MASK=31 for 0x1F, a 20-digit id rounded.
  it('env values YAML reads as numbers reach the process as written', () => {
    const config = parseConfig(
      lines(
        'groups:',
        '  web:',
        '    command: node server.js',
        '    env:',
        '      PYTHON_VERSION: 3.10',
        '      ZIP: 01234',
        '      MASK: 0x1F',
        '      ID: 12345678901234567890',
        '      WORKERS: 4',
        '      QUOTED: "007"',
        '      DEBUG: true',
        '  env:', // a group named `env`: its numbers are numbers
        '    command: node worker.js',
        '    min_instances: 2',
        '    max_instances: 3',
      ),
      { baseDir: '/srv/app' },
    );
    const web = config.groups.web!.provider as { env: Record<string, string> };
    assert.deepEqual(web.env, {
      PYTHON_VERSION: '3.10',
      ZIP: '01234',
      MASK: '0x1F',
      ID: '12345678901234567890',
      WORKERS: '4',
      QUOTED: '007',
      DEBUG: 'true',
    });
    assert.equal(config.groups.env!.minInstances, 2, 'a group named env keeps its numbers');
  });

  it('the short form env and env merged from an anchor are kept as written too', () => {
    const short = parseConfig(
      lines('command: node server.js', 'env:', '  VERSION: 2.0', '  PORT_BASE: 08080'),
      {
        baseDir: '/srv/app',
      },
    );
    const shortEnv = (short.groups.web!.provider as { env: Record<string, string> }).env;
    assert.deepEqual(shortEnv, { VERSION: '2.0', PORT_BASE: '08080' });
    const merged = parseConfig(
      lines(
        'groups:',
        '  web: &web',
        '    command: node server.js',
        '    env: { RATIO: 0.50 }',
        '  api:',
        '    <<: *web',
        '    env:',
        '      <<: { LEVEL: 1.0 }',
        '      OWN: 1e3',
      ),
      { baseDir: '/srv/app' },
    );
    const envOf = (name: string) => (merged.groups[name]!.provider as { env: Record<string, string> }).env;
    assert.deepEqual(envOf('web'), { RATIO: '0.50' });
    assert.deepEqual(envOf('api'), { LEVEL: '1.0', OWN: '1e3' });
  });

  // readFile(…, 'utf8') turned a byte that is not UTF-8 into U+FFFD: `command: node \xff.js` was
  // valid and ran a command no one wrote; a UTF-16 file read as a string of junk.
  it('a file that is not UTF-8 is refused at the line of the first bad byte', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-utf8-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const cases: [string, Buffer, number][] = [
      ['latin-1 byte', Buffer.from('groups:\n  web:\n    command: node \xff.js\n', 'latin1'), 3],
      ['UTF-16 with BOM', Buffer.from('\ufeffgroups:\n', 'utf16le'), 1],
      [
        'truncated sequence',
        Buffer.concat([Buffer.from('groups:\n  web:\n    command: x\n# caf'), Buffer.from([0xc3])]),
        4,
      ],
    ];
    for (const [name, bytes, line] of cases) {
      const file = join(dir, `${name.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, bytes);
      const error = await loadConfig(file).then(
        () => assert.fail(`${name}: accepted`),
        (e: unknown) => e,
      );
      assert.ok(error instanceof ConfigError, `${name}: ${String(error)}`);
      assert.deepEqual(
        error.issues,
        [{ path: '', line, message: 'not valid UTF-8 (save the file as UTF-8)' }],
        name,
      );
    }
    // A UTF-8 BOM is fine.
    const bom = join(dir, 'bom.yaml');
    await writeFile(bom, '\ufeffgroups:\n  web:\n    command: node café.js\n');
    const config = await loadConfig(bom);
    assert.equal((config.groups.web!.provider as { command: string }).command, 'node café.js');
  });

  // Keys are names, and YAML reads a plain `0x10:` as the number 16: the group was named "16".
  it('a mapping key YAML reads as a number keeps the name as written', () => {
    const config = parseConfig(
      lines('groups:', '  0x10:', '    command: a', '  1e3:', '    command: b', '  010:', '    command: c'),
      { baseDir: '/srv/app' },
    );
    assert.deepEqual(Object.keys(config.groups).sort(), ['010', '0x10', '1e3']);
    const issues = issuesOf(lines('groups:', '  web:', '    command: a', '    1e3: 5'));
    assert.deepEqual(
      issues.map(({ path, line }) => ({ path, line })),
      [{ path: 'groups.web.1e3', line: 4 }],
      JSON.stringify(issues),
    );
  });

  // Routes are tried in order and the first match wins: a second `path_prefix: /api` (or any route
  // behind a catch-all) was accepted and never received a request.
  it('a route that an earlier route shadows is refused at its line, naming the earlier one', () => {
    const group = ['groups:', '  web: { command: a }', '  api: { command: b }', 'routes:'];
    const shadowed: [string[], string][] = [
      [['  - { path_prefix: /api, group: web }', '  - { path_prefix: /api, group: api }'], 'routes.0'],
      [['  - { path_prefix: /api, group: web }', '  - { path_prefix: /api/v2, group: api }'], 'routes.0'],
      [['  - { group: web }', '  - { host: api.example.com, group: api }'], 'routes.0'],
      [
        ['  - { host: Example.com, group: web }', '  - { host: example.COM, path_prefix: /x, group: api }'],
        'routes.0',
      ],
      [
        ['  - { host: "*.example.com", group: web }', '  - { host: api.example.com, group: api }'],
        'routes.0',
      ],
      [
        ['  - { host: "*.example.com", group: web }', '  - { host: "*.eu.example.com", group: api }'],
        'routes.0',
      ],
    ];
    for (const [routes, earlier] of shadowed) {
      const issues = issuesOf(lines(...group, ...routes));
      assert.deepEqual(
        issues.map(({ path, line }) => ({ path, line })),
        [{ path: 'routes.1', line: 6 }],
        `${routes.join(' / ')}: ${JSON.stringify(issues)}`,
      );
      assert.ok(issues[0]!.message.includes(`never used: ${earlier} comes first`), issues[0]!.message);
    }
    // Narrower first is how routes are meant to be written; a wildcard does not take the bare domain.
    const config = parseConfig(
      lines(
        ...group,
        '  - { path_prefix: /api/v2, group: api }',
        '  - { path_prefix: /api, group: web }',
        '  - { host: "*.example.com", group: api }',
        '  - { host: example.com, group: web }',
        '  - { host: api.example.org, group: api }',
      ),
      { baseDir: '/srv/app' },
    );
    assert.equal(config.routes.length, 5);
  });

  // The yaml library refuses an alias bomb with "Excessive alias count…" and no position.
  it('an alias bomb is refused with the line of the first alias', () => {
    const rows = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [name, prev] of ['ba', 'cb', 'dc', 'ed', 'fe', 'gf', 'hg', 'ih'])
      rows.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(', ')}]`);
    const issues = issuesOf(lines('groups:', '  web: { command: a }', ...rows));
    assert.equal(issues.length, 1, JSON.stringify(issues));
    assert.equal(issues[0]!.line, 4, JSON.stringify(issues));
    assert.match(issues[0]!.message, /alias bomb/, issues[0]!.message);
  });

  // One bad value, one error: a min_instances over 2^53 also blamed max_instances, at another line.
  it('a min_instances too large to count is one error, not a second one on max_instances', () => {
    for (const value of ['99999999999999999999', '-1']) {
      const issues = issuesOf(
        lines(
          ...GROUP.map((line) =>
            line.replace('START', '30s').replace('min_instances: 1', `min_instances: ${value}`),
          ),
        ),
      );
      assert.deepEqual(
        issues.map(({ path, line }) => ({ path, line })),
        [{ path: 'groups.web.min_instances', line: 4 }],
        `${value}: ${JSON.stringify(issues)}`,
      );
    }
  });

  // `/health check` was valid, then every probe threw ERR_UNESCAPED_CHARACTERS (a TypeError stack
  // in the log) and no instance ever became ready. Node sends no path outside U+0021..U+00FF.
  it('a health path or route prefix that no request line can carry is refused at its line', () => {
    const paths = ['/health check', '/health\tz', '/gesundheit/\u00e4rztin\u2013ok'];
    for (const path of paths) {
      assert.throws(() => request({ host: '127.0.0.1', port: 1, path }), {
        code: 'ERR_UNESCAPED_CHARACTERS',
      });
      const yaml = JSON.stringify(path);
      const cases = [
        [
          lines('balancer:', `  health: { path: ${yaml} }`, 'groups: { web: { command: x } }'),
          'balancer.health.path',
          2,
        ],
        [
          lines('groups:', '  web:', '    command: x', `    health_path: ${yaml}`),
          'groups.web.health_path',
          4,
        ],
        [lines(`health_path: ${yaml}`, 'command: x'), 'health_path', 1],
        [
          lines('routes:', `  - { path_prefix: ${yaml}, group: web }`, 'groups: { web: { command: x } }'),
          'routes.0.path_prefix',
          2,
        ],
      ] as const;
      for (const [text, at, line] of cases) {
        const issues = issuesOf(text);
        assert.deepEqual(
          issues.map((i) => ({ path: i.path, line: i.line })),
          [{ path: at, line }],
          `${yaml} at ${at}: ${JSON.stringify(issues)}`,
        );
        assert.match(issues[0]!.message, /percent-encode it \(a space is %20\)/);
      }
    }
    // Percent-encoded, and Latin-1 as Node sends it, they stay valid.
    for (const path of ['/health%20check', '/caf\u00e9', '/a;b=c?x=1&y=%2F']) {
      const config = parseConfig(
        lines('groups:', '  web:', '    command: x', `    health_path: ${JSON.stringify(path)}`),
        {
          baseDir: '/srv/app',
        },
      );
      assert.equal(config.groups.web?.healthPath, path);
    }
  });

  // Each instance gets its own port in port_env's variable, which replaced the group's `env` entry
  // for it without a word: `env: { PORT: 3000 }` was valid and never reached the app.
  it("an env entry for port_env's variable is refused at its line, in both forms", () => {
    const cases = [
      [
        lines('groups:', '  web:', '    command: x', '    env:', '      A: 1', '      PORT: 3000'),
        'groups.web.env.PORT',
        6,
      ],
      [
        lines('groups:', '  web:', '    command: x', '    port_env: APP_PORT', '    env: { APP_PORT: 1 }'),
        'groups.web.env.APP_PORT',
        5,
      ],
      [lines('command: x', 'env:', '  PORT: 3000'), 'env.PORT', 3],
    ] as const;
    for (const [text, path, line] of cases) {
      const issues = issuesOf(text);
      assert.deepEqual(
        issues.map((i) => ({ path: i.path, line: i.line })),
        [{ path, line }],
        `${path}: ${JSON.stringify(issues)}`,
      );
      assert.match(issues[0]!.message, /^set per instance to its own port \(port_env: \w+\)/);
    }
    // Another variable is the app's own.
    const config = parseConfig(
      lines('groups:', '  web:', '    command: x', '    port_env: APP_PORT', '    env: { PORT: 3000 }'),
      {
        baseDir: '/srv/app',
      },
    );
    const provider = config.groups.web?.provider;
    assert.deepEqual(provider?.provider === 'local' && provider.env, { PORT: '3000' });
  });
});

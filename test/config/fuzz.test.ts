// Hostile input on the config loader (acceptance 3 of issue 10): random YAML text and random values
// put anywhere in a valid config. parseConfig either returns a config or throws a ConfigError whose
// every issue names a path or a line — never another exception type. FUZZ_RUNS sets the runs per
// property (default 200).
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ConfigError, parseConfig } from '../../src/config/index.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const outcomes = new Map<string, { valid: number; configError: number }>();

/** VALID is a full config touching most sections; the properties break it in random places. */
const VALID = {
  api: { listen: '127.0.0.1:9090', public_metrics: false, scale_requests_per_minute: 60 },
  balancer: {
    listen: '127.0.0.1:8080',
    algorithm: 'ewma',
    health: { path: '/healthz', interval: '1s' },
    outlier: { consecutive_5xx: 5 },
    max_request_body: '10Mi',
  },
  limits: { max_instances_total: 20, max_step: 3 },
  controller: { interval: '15s' },
  alerts: { sinks: [{ webhook: { url: 'https://example.com/hook' } }] },
  routes: [{ path_prefix: '/api/', group: 'web' }],
  groups: {
    web: {
      command: 'node server.js',
      min_instances: 1,
      max_instances: 5,
      scaling: {
        metrics: [{ cpu: { target: 70 } }],
        behavior: { scale_down: { stabilization_window: '30s' } },
      },
    },
    jobs: {
      provider: 'local',
      command: 'node worker.js',
      role: 'worker',
      min_instances: 0,
      max_instances: 3,
    },
  },
};

/** check parses `text` and asserts the outcome is a config or a well-formed ConfigError. */
function check(property: string, text: string): void {
  const tally = outcomes.get(property) ?? { valid: 0, configError: 0 };
  outcomes.set(property, tally);
  try {
    const config = parseConfig(text, { baseDir: '/srv/app' });
    assert.ok(Object.keys(config.groups).length > 0, 'a valid config has groups');
    tally.valid++;
  } catch (err) {
    if (!(err instanceof ConfigError)) {
      assert.fail(
        `${(err as Error)?.constructor?.name}: ${(err as Error)?.message} for:\n${text.slice(0, 500)}`,
      );
    }
    assert.ok(err.issues.length > 0, 'a ConfigError lists its issues');
    for (const issue of err.issues) {
      assert.equal(typeof issue.message, 'string');
      assert.ok(issue.message.length > 0, 'every issue says what is wrong');
      // Path '' is the document itself: a YAML syntax error (with its line) or an alias that cannot
      // be expanded (the yaml library gives no position for those).
      assert.ok(
        issue.path !== '' || issue.line !== undefined || /alias/i.test(issue.message),
        `an issue with neither path nor line: ${issue.message}`,
      );
    }
    tally.configError++;
  }
}

/** paths lists every path (keys and list indices) of a plain value. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (value === null || typeof value !== 'object') return [prefix];
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  return [prefix, ...entries.flatMap(([k, v]) => paths(v, [...prefix, k]))];
}
const ALL_PATHS = paths(VALID).filter((p) => p.length > 0);

function setAt(root: unknown, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let at = copy;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  // defineProperty, not `=`: assigning `__proto__` would swap the prototype instead of adding the key.
  Object.defineProperty(at, path.at(-1)!, { value, enumerable: true, writable: true, configurable: true });
  return copy;
}

/** Values YAML authors (and attackers) write where another was expected. */
const oddValue = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(
    -1,
    0,
    0.5,
    1e308,
    -1e308,
    '',
    '0s',
    '-5s',
    '1x',
    '99999999999999999999h',
    '../../etc/passwd',
    '127.0.0.1:99999',
    '[::1]:',
    'https://',
    null,
    true,
    [],
    {},
    '\u0000',
    '<<',
    'NaN',
  ),
);

describe('hostile input on the config loader', () => {
  after(() => {
    if (process.env.FUZZ_RUNS)
      for (const [property, tally] of outcomes)
        console.log(`FUZZ config ${property}: ${JSON.stringify(tally)}`);
  });

  it('an unknown key named like an Object.prototype member is reported as unknown (found by this fuzz)', () => {
    for (const key of ['valueOf', 'toString', 'constructor', 'hasOwnProperty'])
      assert.throws(
        () => parseConfig(`${key}: 1\ngroups: {web: {command: x}}`, { baseDir: '/' }),
        new RegExp(`${key} \\(line 1\\): unknown key`),
      );
  });

  it('a __proto__ key is reported as unknown, with its line, wherever it is (it used to vanish)', () => {
    const cases: [text: string, path: string, line: number][] = [
      ['__proto__: 1\ngroups: {web: {command: x}}', '__proto__', 1],
      ['groups:\n  web:\n    command: x\n    __proto__: { x: 1 }', 'groups.web.__proto__', 4],
      ['groups:\n  web:\n    command: x\n    env: { __proto__: y }', 'groups.web.env.__proto__', 4],
      [
        'groups:\n  web:\n    command: x\n    max_instances: 2\n    scaling:\n      metrics:\n        - cpu: { target: 50, __proto__: 1 }',
        'groups.web.scaling.metrics.0.cpu.__proto__',
        7,
      ],
    ];
    for (const [text, path, line] of cases) {
      assert.throws(
        () => parseConfig(text, { baseDir: '/' }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.issues.some((i) => i.path === path && i.line === line && i.message === 'unknown key'),
        path,
      );
    }
    // Alongside another problem, both are listed.
    assert.throws(
      () => parseConfig('__proto__: 1\ngroups: {web: {command: x, min_instances: -1}}', { baseDir: '/' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.issues.some((i) => i.path === '__proto__') &&
        err.issues.some((i) => i.path === 'groups.web.min_instances'),
    );
  });

  it('the base config is valid', () => {
    check('base', stringify(VALID));
    assert.equal(outcomes.get('base')?.valid, 1);
  });

  it('any value at any path of a valid config: a config or a ConfigError naming a path', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ALL_PATHS), oddValue, (path, value) => {
        check('value at a path', stringify(setAt(VALID, path, value)));
      }),
      { numRuns: RUNS },
    );
  });

  it('unknown keys at any mapping: a ConfigError naming the key', () => {
    const mappings = ALL_PATHS.filter((p) => {
      const v = p.reduce<unknown>((at, k) => (at as Record<string | number, unknown>)[k], VALID);
      return v !== null && typeof v === 'object' && !Array.isArray(v);
    });
    fc.assert(
      fc.property(
        fc.constantFrom(...mappings),
        fc.string({ minLength: 1, maxLength: 20 }),
        fc.jsonValue(),
        (path, key, value) => {
          const parent = path.reduce<unknown>((at, k) => (at as Record<string | number, unknown>)[k], VALID);
          fc.pre(!Object.hasOwn(parent as object, key));
          const text = stringify(setAt(VALID, [...path, key], value));
          check('unknown key', text);
          assert.throws(
            () => parseConfig(text, { baseDir: '/srv/app' }),
            (err: unknown) =>
              err instanceof ConfigError && // The key itself, or inside it (a new group `a: {}` lacks its command).
              err.issues.some((i) => `${i.path}.`.startsWith(`${[...path, key].join('.')}.`)),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('random JSON documents (YAML is a superset): a config or a ConfigError', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4 }), (value) => {
        check('random document', JSON.stringify(value));
      }),
      { numRuns: RUNS },
    );
  });

  it('random text and damaged YAML: a config or a ConfigError', () => {
    const valid = stringify(VALID);
    const damaged = fc
      .tuple(fc.nat({ max: valid.length }), fc.nat({ max: 20 }), fc.string({ unit: 'binary', maxLength: 10 }))
      .map(([at, cut, insert]) => valid.slice(0, at) + insert + valid.slice(at + cut));
    const yamlish = fc.constantFrom(
      'groups: &a [*a]',
      'a: &a [*a, *a, *a]\nb: &b [*a, *a, *a]\nc: &c [*b, *b, *b]\nd: &d [*c, *c, *c]\ngroups: [*d, *d, *d]',
      '!!binary xyz',
      '? [a, b]\n: c',
      '%YAML 9.9\n---\ngroups: {}',
      'groups:\n  web: !!js/function "function(){}"',
      '<<: *undefined',
      'groups: {web: {<<: {command: x}, max_instances: 2}}',
      '\ufeffgroups: {}',
      '---\n---\n---',
    );
    fc.assert(
      fc.property(fc.oneof(damaged, fc.string({ unit: 'binary', maxLength: 300 }), yamlish), (text) => {
        check('damaged text', text);
      }),
      { numRuns: RUNS },
    );
  });
});

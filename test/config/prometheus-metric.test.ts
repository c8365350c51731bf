// `prometheus:` metrics in scaleplane.yaml: the base URL the source joins `api/v1/query` onto, and
// errors that name the field and line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';

/** web is a group scaled on one prometheus metric given as its YAML flow mapping. */
const web = (metric: string) =>
  [
    'groups:',
    '  web:',
    '    command: node server.js',
    '    max_instances: 10',
    '    scaling:',
    '      metrics:',
    `        - prometheus: ${metric}`,
    '',
  ].join('\n');

const P = 'groups.web.scaling.metrics.0.prometheus.url';

function errorOf(metric: string): ConfigError {
  try {
    parseConfig(web(metric), { baseDir: '/srv' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('prometheus metric config: url', () => {
  it('a base URL with a path prefix is kept as given', () => {
    for (const url of ['http://127.0.0.1:9090', 'http://u:p@prom:9090/prom', 'https://prom/prom/'])
      assert.deepEqual(
        parseConfig(web(`{ query: up, target: 1, url: "${url}" }`), { baseDir: '/srv' }).groups.web!.scaling!
          .metrics[0],
        { type: 'prometheus', target: 1, query: 'up', url, onWarnings: 'missing' },
      );
  });

  // Each of these lost its query or fragment, and its path prefix, when api/v1/query was joined on.
  const cases: { url: string; message: RegExp }[] = [
    { url: 'http://prom:9090/prom?tenant=a', message: /has a query \(\?tenant=a\), which would be dropped/ },
    { url: 'http://prom:9090?tenant=a', message: /has a query \(\?tenant=a\)/ },
    { url: 'http://prom:9090/prom?', message: /has a query \(\?\)/ },
    { url: 'http://prom:9090/prom#main', message: /has a fragment \(#main\)/ },
    { url: 'http://prom:9090/prom/#', message: /has a fragment \(#\)/ },
  ];
  for (const c of cases) {
    it(`refused, naming the field: ${c.url}`, () => {
      const error = errorOf(`{ query: up, target: 1, url: "${c.url}" }`);
      assert.deepEqual(
        error.issues.map((i) => [i.path, i.line]),
        [[P, 7]],
      );
      assert.match(error.issues[0]!.message, c.message);
      assert.match(error.issues[0]!.message, /api\/v1\/query/);
    });
  }
});

describe('prometheus metric config: on_warnings', () => {
  it('defaults to missing, takes use, and names the field for anything else', () => {
    const metric = (extra: string) =>
      parseConfig(web(`{ query: up, target: 1${extra} }`), { baseDir: '/srv' }).groups.web!.scaling!
        .metrics[0];
    assert.equal((metric('') as { onWarnings: string }).onWarnings, 'missing');
    assert.equal((metric(', on_warnings: use') as { onWarnings: string }).onWarnings, 'use');
    const error = errorOf('{ query: up, target: 1, on_warnings: ignore }');
    assert.match(
      error.message,
      /groups\.web\.scaling\.metrics\.0\.prometheus\.on_warnings.*must be missing or use/,
    );
  });
});

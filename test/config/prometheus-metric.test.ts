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
        { type: 'prometheus', target: 1, query: 'up', url, onWarnings: 'missing', timeout: 5000 },
      );
  });

  // Each of these lost its query or fragment, and its path prefix, when api/v1/query was joined on.
  const cases: { url: string; message: RegExp }[] = [
    {
      url: 'http://prom:9090/prom?tenant=a',
      message: /has a query \(\?tenant=\*\*\*\), which would be dropped/,
    },
    { url: 'http://prom:9090?tenant=a', message: /has a query \(\?tenant=\*\*\*\)/ },
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

describe('prometheus metric config: a query in the url is named, never quoted', () => {
  // A token kept in a URL's query (`?api_key=…`, as some hosted Prometheus front ends take it) was
  // echoed in the validation error, which is printed and logged: `has a query (?api_key=s3cret…)`.
  const cases: { url: string; shown: string }[] = [
    { url: 'http://prom:9090/prom?api_key=key-s3cret&tenant=a', shown: '(?api_key=***&tenant=***)' },
    { url: 'http://prom:9090/?tok-s3cret', shown: '(?***)' },
    { url: 'http://prom:9090/?a=&&b=tok-s3cret#frag', shown: '(?a=&&b=***#frag)' },
  ];
  for (const c of cases) {
    it(`${c.shown}: the parameters' names, not their values`, () => {
      const error = errorOf(`{ query: up, target: 1, url: "${c.url}" }`);
      assert.deepEqual(
        error.issues.map((i) => i.path),
        [P],
      );
      const message = error.issues[0]!.message;
      assert.ok(message.includes(`has a query ${c.shown}`), `names the query's parameters: ${message}`);
      assert.doesNotMatch(message, /s3cret/, 'no value of the query in the message');
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

describe('prometheus metric config: timeout', () => {
  const timeoutOf = (extra: string) =>
    (
      parseConfig(web(`{ query: up, target: 1${extra} }`), { baseDir: '/srv' }).groups.web!.scaling!
        .metrics[0] as { timeout: number }
    ).timeout;

  it('defaults to 5s; takes a duration up to 2m', () => {
    assert.equal(timeoutOf(''), 5000);
    assert.equal(timeoutOf(', timeout: 250ms'), 250);
    assert.equal(timeoutOf(', timeout: 30'), 30_000);
    assert.equal(timeoutOf(', timeout: 2m'), 120_000);
  });

  const cases: { timeout: string; message: RegExp }[] = [
    { timeout: '0s', message: /must be longer than 0/ },
    { timeout: '0', message: /must be longer than 0/ },
    { timeout: '2m1s', message: /must be at most 2m: Prometheus' own default --query\.timeout/ },
    { timeout: '1d', message: /must be at most 2m/ },
    { timeout: 'soon', message: /invalid duration "soon"/ },
  ];
  for (const c of cases) {
    it(`refused, naming the field: timeout: ${c.timeout}`, () => {
      const error = errorOf(`{ query: up, target: 1, timeout: ${c.timeout} }`);
      assert.deepEqual(
        error.issues.map((i) => [i.path, i.line]),
        [['groups.web.scaling.metrics.0.prometheus.timeout', 7]],
      );
      assert.match(error.issues[0]!.message, c.message);
    });
  }
});

describe('prometheus metric config: bearer_token_file, ca_file, headers', () => {
  it('relative files are resolved against the config folder; headers are kept as written', () => {
    const metric = parseConfig(
      web(
        "{ query: up, target: 1, url: 'https://prom:9091', bearer_token_file: token, ca_file: /etc/ca.pem, headers: { X-Scope-OrgID: '007' } }",
      ),
      { baseDir: '/srv/sp' },
    ).groups.web!.scaling!.metrics[0];
    assert.deepEqual(
      [
        (metric as { bearerTokenFile?: string }).bearerTokenFile,
        (metric as { caFile?: string }).caFile,
        (metric as { headers?: unknown }).headers,
      ],
      ['/srv/sp/token', '/etc/ca.pem', { 'X-Scope-OrgID': '007' }],
    );
  });
  const cases = [
    {
      extra: "url: 'http://u:p@prom:9090', bearer_token_file: t",
      field: 'bearer_token_file',
      message: /give one way to authenticate: bearer_token_file, or user:password in url/,
    },
    {
      extra: 'headers: { authorization: x }, bearer_token_file: t',
      field: 'bearer_token_file',
      message: /or headers\.authorization/,
    },
    { extra: 'ca_file: ca.pem', field: 'ca_file', message: /needs an https url/ },
    { extra: "headers: { 'X Tenant': a }", field: 'headers.X Tenant', message: /must be a header name/ },
    {
      extra: 'headers: { X-Tenant: "a\\r\\nX-Evil: 1" }',
      field: 'headers.X-Tenant',
      message: /must be one line/,
    },
  ];
  for (const c of cases) {
    it(`refused, naming ${c.field}: ${c.extra}`, () => {
      const error = errorOf(`{ query: up, target: 1, ${c.extra} }`);
      assert.deepEqual(
        error.issues.map((i) => i.path),
        [`groups.web.scaling.metrics.0.prometheus.${c.field}`],
        error.message,
      );
      assert.match(error.issues[0]!.message, c.message);
    });
  }
});

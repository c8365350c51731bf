import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  type Config,
  ConfigError,
  defaultConfigPath,
  formatIssue,
  type GroupConfig,
  type LocalProviderConfig,
  loadConfig,
  parseConfig,
} from '../../src/config/index.js';

const BASE = '/srv/app';

/** local narrows a group's provider config to the local provider these cases are about. */
function local(group: GroupConfig | undefined): LocalProviderConfig {
  assert.equal(group?.provider.provider, 'local');
  return group!.provider as LocalProviderConfig;
}

/** lines joins its arguments with newlines, so argument N is line N of the YAML. */
function lines(...text: string[]): string {
  return `${text.join('\n')}\n`;
}

function parse(text: string): Config {
  return parseConfig(text, { baseDir: BASE });
}

/** issuesOf parses text that must be invalid and returns its issues without message text. */
function issuesOf(text: string): { path: string; line: number | undefined }[] {
  try {
    parse(text);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.issues.map(({ path, line }) => ({ path, line }));
  }
  assert.fail('expected a ConfigError');
}

const FULL_FORM = lines(
  'api:',
  '  listen: 127.0.0.1:9090',
  'balancer:',
  '  listen: 127.0.0.1:8080',
  '  algorithm: ewma                   # or round-robin, least-connections, p2c, consistent-hash',
  '  health: { path: /healthz, interval: 1s, timeout: 1s, unhealthy_threshold: 2, healthy_threshold: 1 }',
  '  request_timeout: 60s',
  '  drain_timeout: 30s',
  'controller:',
  '  interval: 15s',
  '  journal_size: 1000',
  'groups:',
  '  web:',
  '    provider: local                 # default local; only local exists now',
  '    command: node server.js         # each instance gets its own port in $PORT',
  '    port_env: PORT',
  "    cwd: .                          # relative to the config file's folder; default that folder",
  '    env: { NODE_ENV: production }',
  '    host: 127.0.0.1',
  '    start_timeout: 30s',
  '    stop_timeout: 10s',
  '    crash_loop: { limit: 5, window: 60s }',
  '    min_instances: 1',
  '    max_instances: 5',
  '    initial_instances: 1',
  '    health_path: /healthz           # default: balancer.health.path',
  '    scaling:                        # omit `scaling` and the group is scaled only by hand',
  '      metrics:',
  '        - cpu: { target: 80 }       # one-key objects: kind → options; only cpu for now',
  '      tolerance: 0.1',
  '      metric_window: 30s',
  '      behavior:',
  '        scale_down: { stabilization_window: 300s }',
  '        scale_up: { stabilization_window: 0s }',
);

const DEFAULT_SECTIONS: Omit<Config, 'groups'> = {
  api: {
    listen: { host: '127.0.0.1', port: 9090 },
    authFailuresPerMinute: 10,
    scaleRequestsPerMinute: 60,
    publicMetrics: false,
    maxStreamsPerToken: 10,
    maxStreams: 100,
  },
  balancer: {
    listen: { host: '127.0.0.1', port: 8080 },
    algorithm: 'ewma',
    health: {
      path: '/healthz',
      interval: 1000,
      timeout: 1000,
      unhealthyThreshold: 2,
      healthyThreshold: 1,
      replaceAfter: 30_000,
    },
    requestTimeout: 60_000,
    drainTimeout: 30_000,
    warmupTimeout: 10_000,
    hashKey: 'ip',
    outlier: {
      consecutive5xx: 5,
      consecutiveGatewayErrors: 3,
      baseEjectionTime: 30_000,
      maxEjectionTime: 300_000,
      maxEjectionPercent: 50,
      panicThreshold: 50,
    },
    retryBudget: { percent: 20, minPerSecond: 10 },
    slowStart: 0,
    upstreamKeepAliveTimeout: 4000,
    websocketIdleTimeout: 60_000,
    clientKeepAliveTimeout: 75_000,
    headersTimeout: 10_000,
    maxRequestBody: 100 * 1024 * 1024,
    maxHeaderSize: 16 * 1024,
    workers: 1,
  },
  routes: [],
  controller: { interval: 15_000, journalSize: 1000 },
};

/** hand-scaled web group with every default, running `command`. */
function defaultGroup(command: string): GroupConfig {
  return {
    name: 'web',
    role: 'service',
    minInstances: 1,
    maxInstances: 1,
    initialInstances: 1,
    healthPath: '/healthz',
    provider: {
      provider: 'local',
      command,
      cwd: BASE,
      portEnv: 'PORT',
      env: {},
      host: '127.0.0.1',
      startTimeout: 30_000,
      stopTimeout: 10_000,
      minReady: 0,
      crashLoopLimit: 5,
      crashLoopWindow: 60_000,
      logLinesPerSecond: 100,
    },
  };
}

const CPU_80 = {
  metrics: [{ type: 'cpu' as const, target: 80 }],
  tolerance: 0.1,
  scaleDownStabilization: 300_000,
  scaleUpStabilization: 0,
  metricWindow: 30_000,
};

describe('parseConfig: full form', () => {
  it('parses the documented full form to the exact Config', () => {
    const web = defaultGroup('node server.js');
    const expected: Config = {
      ...DEFAULT_SECTIONS,
      groups: {
        web: {
          ...web,
          maxInstances: 5,
          provider: { ...local(web), env: { NODE_ENV: 'production' } },
          // The full form writes its behavior out (the HPA defaults), so it is set.
          scaling: {
            ...CPU_80,
            behaviorSet: true,
            // As written: what mode: hpa would put into the HPA's spec.behavior.
            behaviorWritten: {
              scaleDown: { stabilizationWindow: 300_000 },
              scaleUp: { stabilizationWindow: 0 },
            },
          },
        },
      },
      source: '/srv/app/scaleplane.yaml',
    };
    assert.deepEqual(parseConfig(FULL_FORM, { baseDir: BASE, source: '/srv/app/scaleplane.yaml' }), expected);
  });

  it('parses the DESIGN.md example', () => {
    const config = parse(
      lines(
        'api:',
        '  listen: 127.0.0.1:9090',
        'balancer:',
        '  listen: 127.0.0.1:8080',
        '  algorithm: least-connections',
        '  health: { path: /healthz, interval: 1s }',
        'groups:',
        '  web:',
        '    provider: local',
        '    command: node server.js      # each instance gets its own port in $PORT',
        '    port_env: PORT',
        '    min_instances: 1',
        '    max_instances: 5',
        '    scaling:                     # omit `scaling` and the group is scaled only by hand',
        '      metrics:',
        '        - cpu: { target: 80 }',
      ),
    );
    assert.deepEqual(config.groups.web, {
      ...defaultGroup('node server.js'),
      maxInstances: 5,
      scaling: CPU_80,
    });
  });

  it('fills every default from a group with only a command', () => {
    const expected: Config = { ...DEFAULT_SECTIONS, groups: { web: defaultGroup('node server.js') } };
    assert.deepEqual(parse(lines('groups:', '  web:', '    command: node server.js')), expected);
  });

  const defaults: { name: string; yaml: string; check: (config: Config) => void }[] = [
    {
      name: 'initial_instances defaults to min_instances',
      yaml: lines('groups:', '  web: { command: x, min_instances: 2, max_instances: 4 }'),
      check: (c) => assert.equal(c.groups.web!.initialInstances, 2),
    },
    {
      name: 'max_instances defaults to min_instances without scaling',
      yaml: lines('groups:', '  web: { command: x, min_instances: 3 }'),
      check: (c) => assert.equal(c.groups.web!.maxInstances, 3),
    },
    {
      name: 'max_instances is at least 1 when min_instances is 0',
      yaml: lines('groups:', '  web: { command: x, min_instances: 0 }'),
      check: (c) => assert.deepEqual([c.groups.web!.minInstances, c.groups.web!.maxInstances], [0, 1]),
    },
    {
      name: 'health_path defaults to balancer.health.path',
      yaml: lines('balancer: { health: { path: /up } }', 'groups:', '  web: { command: x }'),
      check: (c) => assert.equal(c.groups.web!.healthPath, '/up'),
    },
    {
      name: 'cwd resolves against the base folder',
      yaml: lines('groups:', '  web: { command: x, cwd: ../other }'),
      check: (c) => assert.equal(local(c.groups.web).cwd, '/srv/other'),
    },
    {
      name: 'an absolute cwd is kept',
      yaml: lines('groups:', '  web: { command: x, cwd: /opt/app }'),
      check: (c) => assert.equal(local(c.groups.web).cwd, '/opt/app'),
    },
    {
      name: 'env numbers and booleans become strings',
      yaml: lines('groups:', '  web: { command: x, env: { WORKERS: 4, DEBUG: false } }'),
      check: (c) => assert.deepEqual(local(c.groups.web).env, { WORKERS: '4', DEBUG: 'false' }),
    },
    {
      name: 'bare-number durations are seconds and listen accepts a bare port',
      yaml: lines('balancer: { listen: 8000, request_timeout: 5 }', 'groups:', '  web: { command: x }'),
      check: (c) => {
        assert.deepEqual(c.balancer.listen, { host: '127.0.0.1', port: 8000 });
        assert.equal(c.balancer.requestTimeout, 5000);
      },
    },
    {
      name: 'scaling defaults tolerance, window and behavior',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 3',
        '    scaling: { metrics: [cpu: { target: 50 }] }',
      ),
      check: (c) =>
        assert.deepEqual(c.groups.web!.scaling, { ...CPU_80, metrics: [{ type: 'cpu', target: 50 }] }),
    },
    {
      name: 'several groups keep their names',
      yaml: lines('groups:', '  web: { command: a }', '  api-2: { command: b, provider: local }'),
      check: (c) => assert.deepEqual(Object.keys(c.groups), ['web', 'api-2']),
    },
    {
      name: 'groups can share settings through a YAML merge key',
      yaml: lines(
        'groups:',
        '  web: &base',
        '    command: a',
        '    max_instances: 3',
        '  api:',
        '    <<: *base',
        '    command: b',
      ),
      check: (c) => assert.deepEqual([local(c.groups.api).command, c.groups.api!.maxInstances], ['b', 3]),
    },
    {
      name: 'source is absent when not given',
      yaml: lines('groups:', '  web: { command: x }'),
      check: (c) => assert.equal('source' in c, false),
    },
  ];
  for (const { name, yaml, check } of defaults) {
    it(name, () => check(parse(yaml)));
  }
});

describe('parseConfig: behavior given or not (Kubernetes picks the HPA path by it)', () => {
  const group = (scaling: string[]) =>
    parse(lines('groups:', '  web:', '    command: x', '    max_instances: 3', '    scaling:', ...scaling))
      .groups.web!.scaling!;
  it('no behavior: behaviorSet absent, the preset keeps its own path', () => {
    const s = group(['      policy: hpa', '      metrics: [{ cpu: { target: 70 } }]']);
    assert.equal(s.behaviorSet, undefined);
  });
  it('any behavior field, either direction: behaviorSet', () => {
    for (const behavior of [
      '      behavior: { scale_down: { stabilization_window: 60s } }',
      '      behavior: { scale_up: { policies: [{ type: Pods, value: 2, period: 15s }] } }',
    ]) {
      const s = group(['      policy: hpa', '      metrics: [{ cpu: { target: 70 } }]', behavior]);
      assert.equal(s.behaviorSet, true, behavior);
    }
  });
});

describe('parseConfig: short form', () => {
  it('reads the documented short form as one CPU-scaled group "web"', () => {
    const config = parse(
      lines(
        'command: node server.js',
        'scaling:',
        '  min_instances: 1',
        '  max_instances: 5',
        '  threshold: 80  # CPU percent',
      ),
    );
    const expected: Config = {
      ...DEFAULT_SECTIONS,
      groups: { web: { ...defaultGroup('node server.js'), maxInstances: 5, scaling: CPU_80 } },
    };
    assert.deepEqual(config, expected);
  });

  it('without scaling runs one instance scaled by hand', () => {
    const expected: Config = { ...DEFAULT_SECTIONS, groups: { web: defaultGroup('node server.js') } };
    assert.deepEqual(parse(lines('command: node server.js')), expected);
  });

  it('min_instances defaults to 1', () => {
    const web = parse(lines('command: x', 'scaling: { max_instances: 4, threshold: 60 }')).groups.web!;
    assert.deepEqual(
      [web.minInstances, web.maxInstances, web.scaling?.metrics],
      [1, 4, [{ type: 'cpu', target: 60 }]],
    );
  });

  it('accepts port_env, env, cwd, health_path and the api/balancer/controller sections', () => {
    const config = parse(
      lines(
        'command: x',
        'port_env: HTTP_PORT',
        'env: { A: b }',
        'cwd: app',
        'health_path: /ready',
        'api: { listen: 9999 }',
        'balancer: { listen: "0.0.0.0:80", algorithm: round-robin }',
        'controller: { interval: 5s }',
      ),
    );
    const web = defaultGroup('x');
    assert.deepEqual(config, {
      api: {
        listen: { host: '127.0.0.1', port: 9999 },
        authFailuresPerMinute: 10,
        scaleRequestsPerMinute: 60,
        publicMetrics: false,
        maxStreamsPerToken: 10,
        maxStreams: 100,
      },
      balancer: {
        ...DEFAULT_SECTIONS.balancer,
        listen: { host: '0.0.0.0', port: 80 },
        algorithm: 'round-robin',
      },
      routes: [],
      controller: { interval: 5000, journalSize: 1000 },
      groups: {
        web: {
          ...web,
          healthPath: '/ready',
          provider: { ...local(web), portEnv: 'HTTP_PORT', env: { A: 'b' }, cwd: '/srv/app/app' },
        },
      },
    } satisfies Config);
  });
});

describe('parseConfig: errors name the YAML path and line', () => {
  const cases: { name: string; yaml: string; issues: { path: string; line: number }[] }[] = [
    {
      name: 'max_instances below min_instances',
      yaml: lines('groups:', '  web:', '    command: x', '    min_instances: 3', '    max_instances: 2'),
      issues: [{ path: 'groups.web.max_instances', line: 5 }],
    },
    {
      name: 'initial_instances below min_instances',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    min_instances: 2',
        '    max_instances: 4',
        '    initial_instances: 1',
      ),
      issues: [{ path: 'groups.web.initial_instances', line: 6 }],
    },
    {
      name: 'initial_instances above max_instances',
      yaml: lines('groups:', '  web:', '    command: x', '    initial_instances: 6', '    max_instances: 5'),
      issues: [{ path: 'groups.web.initial_instances', line: 4 }],
    },
    {
      name: 'initial_instances above the defaulted max_instances',
      yaml: lines('groups:', '  web:', '    command: x', '    initial_instances: 2'),
      issues: [{ path: 'groups.web.initial_instances', line: 4 }],
    },
    {
      name: 'scaling without max_instances (missing key: line of its parent)',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    scaling:',
        '      metrics: [cpu: { target: 80 }]',
      ),
      issues: [{ path: 'groups.web.max_instances', line: 2 }],
    },
    {
      // The yaml library throws "Merge sources must be maps or map aliases" with no position.
      name: 'a merge key of a scalar, of an alias of one, or of a list holding one, in a mapping or a list item',
      yaml: lines(
        'defaults: &d 3',
        'groups:',
        '  web:',
        '    <<: *d',
        '    command: x',
        '  api:',
        '    command: y',
        '    <<: [{ max_instances: 2 }, 7]',
        '    scaling:',
        '      metrics:',
        '        - <<: 1',
      ),
      issues: [
        { path: 'groups.web.<<', line: 4 },
        { path: 'groups.api.<<', line: 8 },
        { path: 'groups.api.scaling.metrics.0.<<', line: 11 },
      ],
    },
    {
      name: 'missing command',
      yaml: lines('groups:', '  web:', '    max_instances: 2'),
      issues: [{ path: 'groups.web.command', line: 2 }],
    },
    {
      name: 'zero CPU target',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling:',
        '      metrics:',
        '        - cpu: { target: 0 }',
      ),
      issues: [{ path: 'groups.web.scaling.metrics.0.cpu.target', line: 7 }],
    },
    {
      name: 'negative CPU target in the second metric',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling:',
        '      metrics:',
        '        - cpu: { target: 50 }',
        '        - cpu:',
        '            target: -1',
      ),
      issues: [{ path: 'groups.web.scaling.metrics.1.cpu.target', line: 9 }],
    },
    {
      name: 'scaling.startup that is not a duration',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling:',
        '      startup: soon',
        '      metrics: [cpu: { target: 80 }]',
      ),
      issues: [{ path: 'groups.web.scaling.startup', line: 6 }],
    },
    {
      name: 'a negative scaling.startup',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling: { startup: -5, metrics: [cpu: { target: 80 }] }',
      ),
      issues: [{ path: 'groups.web.scaling.startup', line: 5 }],
    },
    {
      name: 'no metrics',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling:',
        '      metrics: []',
      ),
      issues: [{ path: 'groups.web.scaling.metrics', line: 6 }],
    },
    {
      name: 'a metric with no kind',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling:',
        '      metrics:',
        '        - {}',
      ),
      issues: [{ path: 'groups.web.scaling.metrics.0', line: 7 }],
    },
    {
      name: 'an unknown metric kind',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling:',
        '      metrics:',
        '        - disk: { target: 80 }',
      ),
      issues: [{ path: 'groups.web.scaling.metrics.0.disk', line: 7 }],
    },
    {
      name: "a metric written Kubernetes' way (type: cpu): one issue on the metric",
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling:',
        '      metrics:',
        '        - type: cpu',
        '          target: 80',
      ),
      issues: [{ path: 'groups.web.scaling.metrics.0', line: 7 }],
    },
    {
      name: 'tolerance of 1 or more',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling:',
        '      metrics: [cpu: { target: 80 }]',
        '      tolerance: 1',
      ),
      issues: [{ path: 'groups.web.scaling.tolerance', line: 7 }],
    },
    {
      name: 'short form: max_instances below min_instances',
      yaml: lines('command: x', 'scaling:', '  min_instances: 3', '  max_instances: 2', '  threshold: 80'),
      issues: [{ path: 'scaling.max_instances', line: 4 }],
    },
    {
      name: 'short form: zero threshold',
      yaml: lines('command: x', 'scaling:', '  max_instances: 2', '  threshold: 0'),
      issues: [{ path: 'scaling.threshold', line: 4 }],
    },
    {
      name: 'short form: scaling without command',
      yaml: lines('scaling:', '  max_instances: 2', '  threshold: 80'),
      issues: [{ path: 'command', line: 1 }],
    },
    {
      name: 'short form: a full-form key at the top level',
      yaml: lines('command: x', 'max_instances: 3'),
      issues: [{ path: 'max_instances', line: 2 }],
    },
    {
      name: 'groups and command together',
      yaml: lines('command: x', 'groups:', '  web: { command: y }'),
      issues: [{ path: 'command', line: 1 }],
    },
    { name: 'an empty file', yaml: '', issues: [{ path: 'groups', line: 1 }] },
    { name: 'only comments', yaml: lines('# nothing', '# here'), issues: [{ path: 'groups', line: 1 }] },
    {
      name: 'no groups',
      yaml: lines('api:', '  listen: 9090', 'groups: {}'),
      issues: [{ path: 'groups', line: 3 }],
    },
    {
      name: 'groups with no value',
      yaml: lines('api: {}', 'groups:'),
      issues: [{ path: 'groups', line: 2 }],
    },
    { name: 'a document that is not a mapping', yaml: lines('- a', '- b'), issues: [{ path: '', line: 1 }] },
    {
      name: 'a group name with capitals',
      yaml: lines('groups:', '  web: { command: x }', '  Web: { command: x }'),
      issues: [{ path: 'groups.Web', line: 3 }],
    },
    {
      name: 'a group name ending in "-"',
      yaml: lines('groups:', '  web-: { command: x }'),
      issues: [{ path: 'groups.web-', line: 2 }],
    },
    {
      name: 'a group name of 64 characters',
      yaml: lines('groups:', `  ${'a'.repeat(64)}: { command: x }`),
      issues: [{ path: `groups.${'a'.repeat(64)}`, line: 2 }],
    },
    {
      name: 'listen port negative',
      yaml: lines('balancer:', '  listen: -1', 'groups: { web: { command: x } }'),
      issues: [{ path: 'balancer.listen', line: 2 }],
    },
    {
      name: 'listen port above 65535',
      yaml: lines('api:', '  listen: 70000', 'groups: { web: { command: x } }'),
      issues: [{ path: 'api.listen', line: 2 }],
    },
    {
      name: 'unbracketed IPv6 listen address',
      yaml: lines('api: { listen: "::1:9090" }', 'groups: { web: { command: x } }'),
      issues: [{ path: 'api.listen', line: 1 }],
    },
    {
      name: 'a bad duration',
      yaml: lines('balancer:', '  request_timeout: 10 seconds', 'groups: { web: { command: x } }'),
      issues: [{ path: 'balancer.request_timeout', line: 2 }],
    },
    {
      name: 'a zero interval',
      yaml: lines('controller:', '  interval: 0s', 'groups: { web: { command: x } }'),
      issues: [{ path: 'controller.interval', line: 2 }],
    },
    {
      name: 'an unknown algorithm',
      yaml: lines('balancer:', '  algorithm: random', 'groups: { web: { command: x } }'),
      issues: [{ path: 'balancer.algorithm', line: 2 }],
    },
    {
      name: 'an unknown provider',
      yaml: lines('groups:', '  web:', '    provider: nomad', '    command: x'),
      issues: [{ path: 'groups.web.provider', line: 3 }],
    },
    {
      name: 'an invalid environment variable name',
      yaml: lines('groups:', '  web:', '    command: x', '    env:', '      9LIVES: "yes"'),
      issues: [{ path: 'groups.web.env.9LIVES', line: 5 }],
    },
    {
      name: 'a health path without "/"',
      yaml: lines('groups:', '  web:', '    command: x', '    health_path: healthz'),
      issues: [{ path: 'groups.web.health_path', line: 4 }],
    },
    {
      name: 'a fractional instance count',
      yaml: lines('groups:', '  web:', '    command: x', '    min_instances: 1.5'),
      issues: [{ path: 'groups.web.min_instances', line: 4 }],
    },
    {
      name: 'a string where a number belongs',
      yaml: lines('groups:', '  web:', '    command: x', '    max_instances: five'),
      issues: [{ path: 'groups.web.max_instances', line: 4 }],
    },
    {
      name: 'an unknown key in a group',
      yaml: lines('groups:', '  web:', '    command: x', '    comand: y'),
      issues: [{ path: 'groups.web.comand', line: 4 }],
    },
    {
      name: 'an unknown top-level key',
      yaml: lines('balancr: {}', 'groups: { web: { command: x } }'),
      issues: [{ path: 'balancr', line: 1 }],
    },
    {
      name: 'an unknown key in a flow mapping',
      yaml: lines('balancer:', '  health: { path: /h, intervall: 2s }', 'groups: { web: { command: x } }'),
      issues: [{ path: 'balancer.health.intervall', line: 2 }],
    },
    {
      name: 'an unknown key under scaling.behavior',
      yaml: lines(
        'groups:',
        '  web:',
        '    command: x',
        '    max_instances: 2',
        '    scaling:',
        '      metrics: [cpu: { target: 80 }]',
        '      behavior:',
        '        scale_down: { window: 10s }',
      ),
      issues: [{ path: 'groups.web.scaling.behavior.scale_down.window', line: 8 }],
    },
    {
      name: 'every problem at once, in line order',
      yaml: lines(
        'groups:',
        '  web:',
        '    comand: x',
        '    min_instances: 3',
        '    max_instances: 2',
        '  Api:',
        '    command: y',
        '  db:',
        '    command: z',
        '    start_timeout: soon',
      ),
      issues: [
        { path: 'groups.web.command', line: 2 },
        { path: 'groups.web.comand', line: 3 },
        { path: 'groups.web.max_instances', line: 5 },
        { path: 'groups.Api', line: 6 },
        { path: 'groups.db.start_timeout', line: 10 },
      ],
    },
    {
      name: 'YAML syntax: an unclosed flow sequence',
      yaml: lines('groups:', '  web:', '    command: x', '    env: [a', 'api: {}'),
      issues: [{ path: '', line: 5 }],
    },
    {
      name: 'YAML syntax: a duplicate key',
      yaml: lines('groups:', '  web:', '    command: x', '    command: y'),
      issues: [{ path: '', line: 4 }],
    },
    {
      name: 'YAML syntax: a tab for indentation',
      yaml: lines('groups:', '  web:', '\tcommand: x'),
      issues: [{ path: '', line: 3 }],
    },
  ];
  for (const { name, yaml, issues } of cases) {
    it(name, () => {
      assert.deepEqual(issuesOf(yaml), issues);
    });
  }
});

// A syntax error said its line alone, and two said a line where the mistake is not: a quoted string
// never closed was reported on the line past the end of the file, an unclosed `[` on the next line,
// without naming the `[`.
describe('parseConfig: a YAML syntax error says its line and column, and where what is unclosed opens', () => {
  const cases: { name: string; yaml: string; message: string }[] = [
    {
      name: 'a double-quoted string never closed: at its opening quote',
      yaml: lines(
        'groups:',
        '  web:',
        '    provider: local',
        '    command: "node server.js',
        '    min_instances: 1',
      ),
      message:
        'line 4, column 14: YAML syntax error: Missing closing "quote: the string that starts here is never closed',
    },
    {
      name: 'a single-quoted one',
      yaml: lines('groups:', '  web:', "    command: 'node x", '    min_instances: 1'),
      message:
        "line 3, column 14: YAML syntax error: Missing closing 'quote: the string that starts here is never closed",
    },
    {
      name: 'an unclosed flow sequence: where it was found, and the [ it opens at',
      yaml: lines('groups:', '  web:', '    command: x', '    env: [a', 'api: {}'),
      message:
        'line 5, column 1: YAML syntax error: Flow sequence in block collection must be sufficiently indented and end with a ] (the [ at line 4, column 10)',
    },
    {
      name: 'a tab for indentation',
      yaml: lines('groups:', '  web:', '  \tcommand: x'),
      message: 'line 3, column 3: YAML syntax error: Tabs are not allowed as indentation',
    },
  ];
  for (const { name, yaml, message } of cases) {
    it(name, () => {
      assert.throws(
        () => parseConfig(yaml, { baseDir: BASE, source: '/srv/app/scaleplane.yaml' }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.equal(error.message, `invalid config /srv/app/scaleplane.yaml:\n${message}`);
          return true;
        },
      );
    });
  }
});

// A misspelt key named the key meant, a misspelt value only listed the values: `least-connection`
// among five algorithms, `locl` among the providers, had to be found by eye.
describe('parseConfig: a misspelt value names the value meant, as a misspelt key does', () => {
  const group = lines('groups:', '  web:', '    command: x', '    max_instances: 2');
  const cases: { name: string; yaml: string; issue: string }[] = [
    {
      name: 'a balancer algorithm',
      yaml: `${group}balancer: { algorithm: least-connection }\n`,
      issue:
        'balancer.algorithm (line 5): expected "least-connections" or "round-robin" or "p2c" or "ewma" or "consistent-hash", got "least-connection" (did you mean "least-connections"?)',
    },
    {
      name: 'a provider',
      yaml: lines('groups:', '  web:', '    provider: locl', '    command: x'),
      issue:
        'groups.web.provider (line 3): unknown provider "locl" (did you mean "local"? known: local, kubernetes, aws)',
    },
    {
      name: 'a metric kind',
      yaml: `${group}    scaling: { metrics: [cpus: { target: 80 }] }\n`,
      issue:
        'groups.web.scaling.metrics.0.cpus (line 5): unknown metric kind (did you mean "cpu"? known: cpu, memory, prometheus, rabbitmq, redis, nats, inflight, rps, latency)',
    },
    {
      name: 'a value like none of them: no guess',
      yaml: lines('groups:', '  web:', '    provider: nomad', '    command: x'),
      issue: 'groups.web.provider (line 3): unknown provider "nomad" (known: local, kubernetes, aws)',
    },
  ];
  for (const { name, yaml, issue } of cases) {
    it(name, () => {
      assert.throws(
        () => parse(yaml),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, String(error));
          assert.deepEqual(error.issues.map(formatIssue), [issue]);
          return true;
        },
      );
    });
  }
});

it('a metric written with `type:` is answered with the form to write', () => {
  assert.throws(
    () =>
      parse(
        lines(
          'groups:',
          '  web:',
          '    command: x',
          '    max_instances: 2',
          '    scaling:',
          '      metrics: [{ type: CPU, target: 80, window: 30s }]',
        ),
      ),
    (error: unknown) =>
      error instanceof ConfigError &&
      error.message.includes(
        'groups.web.scaling.metrics.0 (line 6): the kind is the key: write "cpu: { target: 80, window: "30s" }" instead of "type: CPU"',
      ),
  );
});

describe('parseConfig: scaling.startup', () => {
  const group = (scaling: string) =>
    parse(lines('groups:', '  web:', '    command: x', '    max_instances: 2', `    scaling: ${scaling}`))
      .groups.web!.scaling;

  it('is a duration in ms when set, absent otherwise (then learnt live)', () => {
    assert.equal(group('{ startup: 45s, metrics: [cpu: { target: 80 }] }')?.startup, 45_000);
    assert.equal(group('{ startup: 1m30s, metrics: [cpu: { target: 80 }] }')?.startup, 90_000);
    assert.equal(group('{ startup: 0s, metrics: [cpu: { target: 80 }] }')?.startup, 0);
    assert.equal(group('{ metrics: [cpu: { target: 80 }] }')?.startup, undefined);
  });

  it('a bad value names the field and says what a duration looks like', () => {
    assert.throws(
      () => group('{ startup: soon, metrics: [cpu: { target: 80 }] }'),
      (error: unknown) =>
        error instanceof ConfigError &&
        /groups\.web\.scaling\.startup \(line 5\): .*duration/.test(error.message),
    );
  });
});

describe('api stream limits', () => {
  it('max_streams_per_token and max_streams are read, and a bad one names its path and line', () => {
    const ok = parse(
      'api:\n  max_streams_per_token: 3\n  max_streams: 20\ngroups:\n  web: { provider: local, command: x }\n',
    );
    assert.equal(ok.api.maxStreamsPerToken, 3);
    assert.equal(ok.api.maxStreams, 20);
    assert.throws(
      () => parse('api:\n  max_streams: 0\ngroups:\n  web: { provider: local, command: x }\n'),
      (error: unknown) => error instanceof ConfigError && /api\.max_streams \(line 2\): /.test(error.message),
    );
  });

  it('log_lines_per_second: a local group key, an integer >= 1', () => {
    const ok = parse('groups:\n  web:\n    command: x\n    log_lines_per_second: 20\n');
    assert.equal((ok.groups.web!.provider as { logLinesPerSecond: number }).logLinesPerSecond, 20);
    assert.deepEqual(issuesOf('groups:\n  web:\n    command: x\n    log_lines_per_second: 0\n'), [
      { path: 'groups.web.log_lines_per_second', line: 4 },
    ]);
  });
});

describe('ConfigError', () => {
  it('formats an issue as path (line N): message', () => {
    const issue = { path: 'groups.web.max_instances', line: 12, message: 'must be >= min_instances' };
    assert.equal(formatIssue(issue), 'groups.web.max_instances (line 12): must be >= min_instances');
    assert.equal(formatIssue({ path: '', line: 3, message: 'm' }), 'line 3: m');
    assert.equal(formatIssue({ path: 'a.b', message: 'm' }), 'a.b: m');
  });

  it('has a stable code and lists one issue per line after a header naming the source', () => {
    const yaml = lines(
      'groups:',
      '  web:',
      '    command: x',
      '    min_instances: 3',
      '    max_instances: 2',
      '    port_env: 1X',
    );
    assert.throws(
      () => parseConfig(yaml, { baseDir: BASE, source: '/srv/app/scaleplane.yaml' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, 'error instanceof ConfigError');
        assert.ok(error instanceof Error, 'error instanceof Error');
        assert.equal(error.code, 'SCALEPLANE_CONFIG_INVALID');
        assert.equal(error.name, 'ConfigError');
        const [header, ...rest] = error.message.split('\n');
        assert.match(header!, /\/srv\/app\/scaleplane\.yaml/);
        assert.deepEqual(rest, error.issues.map(formatIssue));
        assert.match(rest[0]!, /^groups\.web\.max_instances \(line 5\): \S/);
        assert.match(rest[1]!, /^groups\.web\.port_env \(line 6\): \S/);
        return true;
      },
    );
  });
});

describe('parseConfig: keys the short form does not take', () => {
  it('says which ones need the full form, and which belong under scaling', () => {
    const yaml = lines(
      'command: x',
      'routes:',
      '  - { path: /api, group: api }',
      'threshold: 80',
      'min_instances: 2',
      'role: worker',
    );
    assert.throws(
      () => parseConfig(yaml, { baseDir: BASE }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError, 'error instanceof ConfigError');
        assert.deepEqual(error.issues.map(formatIssue).sort(), [
          'min_instances (line 5): belongs under scaling',
          'role (line 6): needs the full form: put the group under groups.<name>',
          'routes (line 2): needs the full form: routes send requests to groups, so put the group under groups.<name>',
          'threshold (line 4): belongs under scaling',
        ]);
        return true;
      },
    );
  });
});

describe('loadConfig', () => {
  it('reads a file, resolves cwd against its folder and records its absolute path', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'app'));
    const file = join(dir, 'scaleplane.yaml');
    await writeFile(file, lines('command: node server.js', 'cwd: app'));
    const config = await loadConfig(file);
    assert.equal(config.source, file);
    assert.equal(local(config.groups.web).cwd, join(dir, 'app'));
  });

  it('throws a ConfigError with the cause when the file cannot be read', async () => {
    const missing = join(tmpdir(), 'scaleplane-no-such-dir', 'scaleplane.yaml');
    await assert.rejects(loadConfig(missing), (error: unknown) => {
      assert.ok(error instanceof ConfigError, 'error instanceof ConfigError');
      assert.equal(error.source, missing);
      assert.equal((error.cause as NodeJS.ErrnoException).code, 'ENOENT');
      return true;
    });
  });
});

describe('defaultConfigPath', () => {
  const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

  it('points at examples/demo/scaleplane.yaml in the package root', () => {
    const path = defaultConfigPath();
    assert.ok(isAbsolute(path), 'isAbsolute(path)');
    assert.equal(path, join(packageRoot, 'examples', 'demo', 'scaleplane.yaml'));
  });

  const demo = join(packageRoot, 'examples', 'demo', 'scaleplane.yaml');
  it('the bundled demo config is valid', { skip: !existsSync(demo) && 'no demo config yet' }, async () => {
    const config = await loadConfig(demo);
    assert.ok(Object.keys(config.groups).length > 0, 'Object.keys(config.groups).length > 0');
  });
});

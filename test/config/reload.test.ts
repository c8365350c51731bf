// planReload: which changes a reload applies and which need a restart, table-driven.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Config, parseConfig, planReload } from '../../src/config/index.js';

const BASE = `
api: { listen: 127.0.0.1:9090 }
balancer: { listen: 127.0.0.1:8080 }
groups:
  web: { command: node server.js, min_instances: 1, max_instances: 3 }
  api: { command: node api.js, min_instances: 1, max_instances: 2 }
`;

const parse = (yaml: string) => parseConfig(yaml, { baseDir: '/srv' });

describe('planReload', () => {
  const cases: { name: string; edit: (yaml: string) => string; applied: string[]; needsRestart: string[] }[] =
    [
      { name: 'nothing changed', edit: (y) => y, applied: [], needsRestart: [] },
      {
        name: 'bounds of one group',
        edit: (y) => y.replace('min_instances: 1, max_instances: 3', 'min_instances: 2, max_instances: 6'),
        applied: ['groups.web.min_instances', 'groups.web.max_instances'],
        needsRestart: [],
      },
      {
        name: 'limits, public metrics and rate limits',
        edit: (y) =>
          `${y.replace('api: { listen: 127.0.0.1:9090 }', 'api: { listen: 127.0.0.1:9090, public_metrics: true, scale_requests_per_minute: 5 }')}limits: { max_step: 2 }\n`,
        applied: ['api.public_metrics', 'api.scale_requests_per_minute', 'limits'],
        needsRestart: [],
      },
      {
        name: 'live stream limits',
        edit: (y) =>
          y.replace(
            'api: { listen: 127.0.0.1:9090 }',
            'api: { listen: 127.0.0.1:9090, max_streams_per_token: 2, max_streams: 5 }',
          ),
        applied: ['api.max_streams_per_token', 'api.max_streams'],
        needsRestart: [],
      },
      {
        name: 'listeners, balancer and the command need a restart',
        edit: (y) =>
          y
            .replace('127.0.0.1:9090', '127.0.0.1:9091')
            .replace(
              'balancer: { listen: 127.0.0.1:8080 }',
              'balancer: { listen: 127.0.0.1:8080, algorithm: p2c }',
            )
            .replace('node api.js', 'node api2.js'),
        applied: [],
        needsRestart: ['api.listen', 'balancer', 'groups.api.provider'],
      },
      {
        name: 'initial_instances set by hand waits for the next start',
        edit: (y) =>
          y.replace(
            'min_instances: 1, max_instances: 3',
            'min_instances: 1, initial_instances: 2, max_instances: 3',
          ),
        applied: [],
        needsRestart: ['groups.web.initial_instances'],
      },
      {
        name: 'min_instances applies; the default initial_instances that follows it is not reported',
        edit: (y) => y.replace('min_instances: 1, max_instances: 3', 'min_instances: 2, max_instances: 3'),
        applied: ['groups.web.min_instances'],
        needsRestart: [],
      },
      {
        name: "a local group's log_lines_per_second is a provider setting: restart",
        edit: (y) => y.replace('node server.js,', 'node server.js, log_lines_per_second: 5,'),
        applied: [],
        needsRestart: ['groups.web.provider'],
      },
      {
        name: 'a prometheus metric url is part of scaling: applied',
        edit: (y) =>
          y.replace(
            'min_instances: 1, max_instances: 3 }',
            "min_instances: 1, max_instances: 3, scaling: { metrics: [ { prometheus: { url: 'http://prom:9090/p', query: up, target: 1 } } ] } }",
          ),
        applied: ['groups.web.scaling'],
        needsRestart: [],
      },
      {
        name: 'added and removed groups need a restart',
        edit: (y) => y.replace('  api: { command: node api.js', '  jobs: { command: node api.js'),
        applied: [],
        needsRestart: ['groups.api (removed)', 'groups.jobs (added)'],
      },
    ];
  for (const c of cases) {
    it(c.name, () => {
      const running = parse(BASE);
      const plan = planReload(running, parse(c.edit(BASE)));
      assert.deepEqual(plan.applied, c.applied);
      assert.deepEqual(plan.needsRestart, c.needsRestart);
      // What needs a restart keeps its running value.
      assert.deepEqual(plan.config.api.listen, running.api.listen);
      assert.deepEqual(plan.config.balancer, running.balancer);
      assert.deepEqual(Object.keys(plan.config.groups), ['web', 'api']);
    });
  }

  it('takes applied values from the new config', () => {
    const plan = planReload(parse(BASE), parse(BASE.replace('max_instances: 3', 'max_instances: 7')));
    assert.equal(plan.config.groups.web?.maxInstances, 7);
    assert.equal(plan.config.groups.api?.maxInstances, 2);
  });

  it("an HTTP cache's hit_for_miss is a balancer setting: restart, running value kept", () => {
    const cached = (ttl: string) =>
      BASE.replace(
        'balancer: { listen: 127.0.0.1:8080 }',
        `balancer: { listen: 127.0.0.1:8080, cache: { hit_for_miss: ${ttl} } }`,
      );
    const running = parse(cached('2m'));
    const plan = planReload(running, parse(cached('10s')));
    assert.deepEqual(plan.applied, []);
    assert.deepEqual(plan.needsRestart, ['balancer']);
    assert.equal(plan.config.balancer.cache?.hitForMiss, 120_000);
  });

  it('a top-level section added to the config later is reported, not dropped', () => {
    const running = parse(BASE);
    const next = { ...parse(BASE), extra: { a: 1 } } as Config;
    assert.deepEqual(planReload(running, next).needsRestart, ['extra']);
  });
});

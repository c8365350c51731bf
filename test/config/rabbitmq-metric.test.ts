// `rabbitmq:` metrics in scaleplane.yaml: mode length (default) and rate, and errors that name
// the field and line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, parseConfig } from '../../src/config/index.js';
import { workerScaledOn } from '../helpers/group-config.js';

/** worker is a group scaled on one rabbitmq metric given as its YAML flow mapping. */
const worker = (metric: string) => workerScaledOn(`rabbitmq: ${metric}`);

const metricOf = (metric: string) =>
  parseConfig(worker(metric), { baseDir: '/srv' }).groups.workers!.scaling!.metrics[0];

function issuesOf(metric: string): { path: string; line: number | undefined; message: string }[] {
  try {
    parseConfig(worker(metric), { baseDir: '/srv' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.issues.map(({ path, line, message }) => ({ path, line, message }));
  }
  assert.fail('expected a ConfigError');
}

describe('rabbitmq metric config', () => {
  it('mode defaults to length, as before', () => {
    assert.deepEqual(metricOf('{ url: amqp://127.0.0.1, queue: jobs, target: 100 }'), {
      type: 'rabbitmq',
      target: 100,
      queue: 'jobs',
      url: 'amqp://127.0.0.1',
      mode: 'length',
    });
  });

  it('mode: rate, with and without management_url', () => {
    assert.deepEqual(metricOf('{ url: amqp://127.0.0.1, queue: jobs, mode: rate, target: 50 }'), {
      type: 'rabbitmq',
      target: 50,
      queue: 'jobs',
      url: 'amqp://127.0.0.1',
      mode: 'rate',
    });
    assert.deepEqual(
      metricOf('{ queue: jobs, mode: rate, target: 2.5, management_url: "https://u:p@mgmt:15671/rmq" }'),
      {
        type: 'rabbitmq',
        target: 2.5,
        queue: 'jobs',
        url: 'amqp://127.0.0.1',
        mode: 'rate',
        managementUrl: 'https://u:p@mgmt:15671/rmq',
      },
    );
  });

  it('mode: length with management_url (ready + unacknowledged, from the management API)', () => {
    assert.deepEqual(metricOf('{ queue: jobs, target: 5, management_url: "http://127.0.0.1:15672" }'), {
      type: 'rabbitmq',
      target: 5,
      queue: 'jobs',
      url: 'amqp://127.0.0.1',
      mode: 'length',
      managementUrl: 'http://127.0.0.1:15672',
    });
  });

  const P = 'groups.workers.scaling.metrics.0.rabbitmq';
  const cases: { name: string; metric: string; path: string; message: RegExp }[] = [
    {
      name: 'mode not length or rate',
      metric: '{ queue: jobs, mode: MessageRate, target: 5 }',
      path: `${P}.mode`,
      message: /length or rate/,
    },
    {
      name: 'length with a management_url that is not http',
      metric: '{ queue: jobs, target: 5, management_url: "amqp://127.0.0.1:15672" }',
      path: `${P}.management_url`,
      message: /expected http:\/\/ or https:\/\//,
    },
    {
      name: 'length over the management API with a url that is not amqp',
      metric: '{ url: "http://h", queue: jobs, target: 5, management_url: "http://127.0.0.1:15672" }',
      path: `${P}.url`,
      message: /expected amqp:\/\/ or amqps:\/\//,
    },
    {
      name: 'rate with a url that is not amqp',
      metric: '{ url: "http://127.0.0.1:15672", queue: jobs, mode: rate, target: 5 }',
      path: `${P}.url`,
      message: /expected amqp:\/\/ or amqps:\/\//,
    },
    {
      name: 'rate with a management_url that is not http',
      metric: '{ queue: jobs, mode: rate, target: 5, management_url: "127.0.0.1:15672" }',
      path: `${P}.management_url`,
      message: /expected http:\/\/ or https:\/\/|not a URL/,
    },
    {
      name: 'rate with a zero target',
      metric: '{ queue: jobs, mode: rate, target: 0 }',
      path: `${P}.target`,
      message: /./,
    },
  ];
  for (const c of cases) {
    it(`error: ${c.name}`, () => {
      const issues = issuesOf(c.metric);
      assert.deepEqual(
        issues.map((i) => [i.path, i.line]),
        [[c.path, 8]],
      );
      assert.match(issues[0]!.message, c.message);
    });
  }
});

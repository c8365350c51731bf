// The management API request a `rabbitmq: { mode: rate }` metric derives from its AMQP URL, and
// how a queue object's publish rate is read. Pure: no broker (test/integration/metrics-rabbitmq-rate
// reads a real one).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ManagementRequest, publishRate, rabbitMqManagementRequest } from '../../src/metrics/index.js';

describe('rabbitMqManagementRequest', () => {
  const cases: {
    name: string;
    url: string;
    queue?: string;
    management?: string;
    want: ManagementRequest | RegExp;
  }[] = [
    {
      name: 'bare host: default vhost, guest/guest (amqplib defaults), port 15672',
      url: 'amqp://127.0.0.1',
      want: {
        url: 'http://127.0.0.1:15672/api/queues/%2F/jobs',
        username: 'guest',
        password: 'guest',
        vhost: '/',
      },
    },
    {
      name: 'AMQP port is replaced, credentials percent-decoded',
      url: 'amqp://app:p%40ss%3Aw@rabbit.internal:5673',
      want: {
        url: 'http://rabbit.internal:15672/api/queues/%2F/jobs',
        username: 'app',
        password: 'p@ss:w',
        vhost: '/',
      },
    },
    {
      name: 'empty path is the default vhost, as amqplib reads it',
      url: 'amqp://guest:guest@127.0.0.1:5672/',
      want: {
        url: 'http://127.0.0.1:15672/api/queues/%2F/jobs',
        username: 'guest',
        password: 'guest',
        vhost: '/',
      },
    },
    {
      name: 'vhost "/" spelled %2F',
      url: 'amqp://127.0.0.1/%2F',
      want: {
        url: 'http://127.0.0.1:15672/api/queues/%2F/jobs',
        username: 'guest',
        password: 'guest',
        vhost: '/',
      },
    },
    {
      name: 'named vhost',
      url: 'amqp://u:p@mq:5672/prod',
      want: { url: 'http://mq:15672/api/queues/prod/jobs', username: 'u', password: 'p', vhost: 'prod' },
    },
    {
      name: 'vhost and queue with "/" and spaces are one encoded segment each',
      url: 'amqp://mq/team%2Fa',
      queue: 'jobs in/out',
      want: {
        url: 'http://mq:15672/api/queues/team%2Fa/jobs%20in%2Fout',
        username: 'guest',
        password: 'guest',
        vhost: 'team/a',
      },
    },
    {
      name: 'user without password: empty password, not guest (amqplib rule)',
      url: 'amqp://reader@mq',
      want: { url: 'http://mq:15672/api/queues/%2F/jobs', username: 'reader', password: '', vhost: '/' },
    },
    {
      name: 'amqps → https on 15671',
      url: 'amqps://u:p@mq.example.com:5671/v',
      want: {
        url: 'https://mq.example.com:15671/api/queues/v/jobs',
        username: 'u',
        password: 'p',
        vhost: 'v',
      },
    },
    {
      name: 'IPv6 host keeps its brackets',
      url: 'amqp://[::1]:5672',
      want: {
        url: 'http://[::1]:15672/api/queues/%2F/jobs',
        username: 'guest',
        password: 'guest',
        vhost: '/',
      },
    },
    {
      name: 'management_url: its host, port and path prefix; its credentials win',
      url: 'amqp://u:p@mq/v',
      management: 'https://admin:s%23cret@mgmt.example.com:8443/rabbitmq/',
      want: {
        url: 'https://mgmt.example.com:8443/rabbitmq/api/queues/v/jobs',
        username: 'admin',
        password: 's#cret',
        vhost: 'v',
      },
    },
    {
      name: 'management_url without credentials: the AMQP URL lends its own',
      url: 'amqp://u:p@mq/v',
      management: 'http://mgmt:15672',
      want: { url: 'http://mgmt:15672/api/queues/v/jobs', username: 'u', password: 'p', vhost: 'v' },
    },
    { name: 'not a URL', url: 'rabbit', want: /^url: not a URL/ },
    {
      name: 'AMQP URL with another scheme',
      url: 'http://mq:15672',
      want: /^url: expected amqp:\/\/ or amqps:\/\//,
    },
    { name: 'bad percent-encoding in the vhost', url: 'amqp://mq/%zz', want: /^url: bad percent-encoding/ },
    {
      name: 'management_url that is not http(s)',
      url: 'amqp://mq',
      management: 'amqp://mq:15672',
      want: /^management_url: expected http:\/\/ or https:\/\//,
    },
    {
      name: 'management_url with a query',
      url: 'amqp://mq',
      management: 'http://mq:15672/?x=1',
      want: /^management_url: no query/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const run = () => rabbitMqManagementRequest(c.url, c.queue ?? 'jobs', c.management);
      if (c.want instanceof RegExp) assert.throws(run, { message: c.want });
      else assert.deepEqual(run(), c.want);
    });
  }
});

describe('publishRate', () => {
  const bad = (message: string) => new Error(message);
  // undefined: no value (a missing metric), never 0.
  const cases: { name: string; queue: unknown; want: number | undefined | RegExp }[] = [
    {
      name: 'not sampled yet (fresh queue) or statistics off: no value',
      queue: { name: 'q' },
      want: undefined,
    },
    {
      name: 'message_stats without publish counters, not sampled: no value',
      queue: { message_stats: {} },
      want: undefined,
    },
    {
      name: 'sampled (messages_details) with nothing published since its statistics began: 0',
      queue: { name: 'q', messages: 0, messages_details: { rate: 0 } },
      want: 0,
    },
    {
      name: 'sampled, message_stats with only deliveries: 0',
      queue: { message_stats: { deliver_get: 3 }, messages_details: { rate: 0 } },
      want: 0,
    },
    {
      name: 'a sampled rate of 0 (publishing stopped): a real 0',
      queue: { message_stats: { publish: 392, publish_details: { rate: 0 } } },
      want: 0,
    },
    {
      name: 'the sampled rate',
      queue: { message_stats: { publish: 392, publish_details: { rate: 40 } } },
      want: 40,
    },
    { name: 'a fractional rate', queue: { message_stats: { publish_details: { rate: 0.2 } } }, want: 0.2 },
    {
      name: 'publish count without rate (rates_mode none): error, not 0',
      queue: { message_stats: { publish: 5 } },
      want: /rates_mode/,
    },
    {
      name: 'rate is a string',
      queue: { message_stats: { publish_details: { rate: '4' } } },
      want: /not a rate/,
    },
    {
      name: 'rate is negative',
      queue: { message_stats: { publish_details: { rate: -1 } } },
      want: /not a rate/,
    },
    { name: 'message_stats is not an object', queue: { message_stats: 3 }, want: /not an object/ },
    { name: 'not a queue object', queue: [1, 2], want: /expected a queue object/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      if (c.want instanceof RegExp) assert.throws(() => publishRate(c.queue, bad), { message: c.want });
      else assert.equal(publishRate(c.queue, bad), c.want);
    });
  }
});

// What an operator does to the shared RabbitMQ beside the queue under test: a channel of its own,
// and policies through the management API, each on one named queue alone.
import { type Channel, connect } from 'amqplib';
import { type DelayQueueKind, delayQueueKind } from '../../src/queue/index.js';
import { backendOptions, waitFor } from './helpers.js';

const url = (backendOptions('rabbitmq') as { url: string }).url;
const management = process.env.RABBITMQ_MANAGEMENT_URL ?? 'http://127.0.0.1:15672';

/** managementApi calls the management HTTP API as guest; a DELETE of what is gone is no error. */
export async function managementApi(path: string, method = 'GET', body?: unknown): Promise<Response> {
  const response = await fetch(`${management}/api/${path}`, {
    method,
    headers: {
      authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`,
      'content-type': 'application/json',
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!response.ok && !(method === 'DELETE' && response.status === 404))
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response;
}

/**
 * onBroker runs `fn` on a channel of its own connection, as an operator or another process would,
 * and returns once the broker confirmed every message `fn` published: without confirms a message
 * sent to a quorum queue may not be in it yet when the channel has closed (a fresh run: a dead-letter
 * retry right after found 1 of the 3 letters published).
 */
export async function onBroker<T>(fn: (ch: Channel) => Promise<T>): Promise<T> {
  const connection = await connect(url);
  try {
    const ch = await connection.createConfirmChannel();
    // A refused operation rejects its own promise; the channel's error event must not crash the test.
    ch.on('error', () => {});
    const out = await fn(ch);
    await ch.waitForConfirms();
    await ch.close();
    return out;
  } finally {
    await connection.close();
  }
}

/** setPolicy applies `definition` to the queue named `queue` alone, and waits until the broker applied it. */
export async function setPolicy(
  policy: string,
  queue: string,
  definition: Record<string, unknown>,
): Promise<void> {
  await managementApi(`policies/%2F/${encodeURIComponent(policy)}`, 'PUT', {
    pattern: `^${queue.replaceAll('.', '\\.')}$`,
    definition,
    'apply-to': 'queues',
    priority: 100,
  });
  await waitFor(
    async () => (await queuePolicy(queue)) === policy,
    `the ${policy} policy to apply to ${queue}`,
  );
}

/** deletePolicy removes `policy` (nothing when it is gone); with `queue`, waits until it no longer applies there. */
export async function deletePolicy(policy: string, queue?: string): Promise<void> {
  await managementApi(`policies/%2F/${encodeURIComponent(policy)}`, 'DELETE');
  if (queue !== undefined)
    await waitFor(
      async () => (await queuePolicy(queue)) !== policy,
      `the ${policy} policy to be lifted from ${queue}`,
    );
}

/** queuePolicy is the name of the policy that applies to `queue` now, if any. */
async function queuePolicy(queue: string): Promise<string | undefined> {
  const info = (await (await managementApi(`queues/%2F/${encodeURIComponent(queue)}`)).json()) as {
    policy?: string;
  };
  return info.policy;
}

/** brokerDelayKind is the kind of delay queue the queue declares on the shared broker (see delayQueueKind). */
export async function brokerDelayKind(): Promise<DelayQueueKind> {
  const connection = await connect(url);
  try {
    const server = connection.connection.serverProperties;
    return delayQueueKind(server.product, server.version);
  } finally {
    await connection.close();
  }
}

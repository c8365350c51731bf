// A job id or priority some broker cannot carry is refused by `publish` at once, naming the field,
// with nothing stored. Before, an empty id was stored and confirmed on every backend, then
// dead-lettered unrun as a malformed message (the job never ran); on RabbitMQ an id over 255 bytes
// (its message-id is an AMQP short string), a non-string id or a priority outside 0-255 (classic
// queues) was re-sent until `publishTimeout` and reported as QUEUE_PUBLISH_TIMEOUT ("may still
// arrive"); on NATS an id with CR/LF was refused as an oversized `payload`.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type BackendName, createQueue, type QueueError } from '../../src/queue/index.js';
import { backendOptions, uniqueName } from './helpers.js';

const refusals: { what: string; options: Record<string, unknown>; field: string }[] = [
  { what: 'an empty id', options: { id: '' }, field: 'id' },
  { what: 'a numeric id', options: { id: 42 }, field: 'id' },
  { what: 'an id of 256 bytes', options: { id: 'x'.repeat(256) }, field: 'id' },
  { what: 'an id of 150 characters, 300 bytes', options: { id: 'é'.repeat(150) }, field: 'id' },
  { what: 'an id with CR LF', options: { id: 'a\r\nb' }, field: 'id' },
  { what: 'priority 256', options: { priority: 256 }, field: 'priority' },
  { what: 'priority -1', options: { priority: -1 }, field: 'priority' },
  { what: 'priority 1.5', options: { priority: 1.5 }, field: 'priority' },
];

for (const backend of ['redis', 'rabbitmq', 'nats'] as BackendName[]) {
  test(`publish refuses a job id or priority a broker cannot carry, naming the field, and stores nothing (${backend})`, async () => {
    // Classic queues are the RabbitMQ ones that send a priority; a short publishTimeout keeps the
    // failure without the check (a timeout) short.
    const queue = createQueue({
      ...backendOptions(backend),
      ...(backend === 'rabbitmq' ? { queueType: 'classic' as const } : {}),
      publishTimeout: 2000,
    });
    const name = uniqueName('publish-options');
    // Closed before the cleanup: its running worker would make the destroyed objects again.
    after(async () => {
      await queue.close();
      const cleaner = createQueue(backendOptions(backend));
      await cleaner.destroy(name).catch(() => {});
      await cleaner.close();
    });
    for (const { what, options, field } of refusals) {
      const outcome = await queue.publish(name, 'job', options).then(
        () => 'stored',
        (error: QueueError) => `${error.code} ${error.message}`,
      );
      assert.match(
        outcome,
        new RegExp(`^QUEUE_INVALID_ARGUMENT ${field}: `),
        `${what} is refused at once naming ${field}, not: ${outcome}`,
      );
    }
    // A payload JSON cannot carry: said to be the payload, not `job … not stored`.
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const [what, payload] of [
      ['a BigInt', { n: 1n }],
      ['a cycle', cyclic],
    ] as const) {
      const outcome = await queue.publish(name, payload).then(
        () => 'stored',
        (error: QueueError) => `${error.code} ${error.message}`,
      );
      assert.match(
        outcome,
        /^QUEUE_INVALID_ARGUMENT payload: must be JSON-serializable: /,
        `${what}: ${outcome}`,
      );
    }
    const reading = await queue.depth(name);
    assert.equal(reading.depth, 0, 'no refused job was stored');
    // The longest id every broker carries still works, end to end.
    const longest = 'é'.repeat(127); // 254 bytes
    await queue.publish(name, 'job', { id: longest, priority: 255 });
    const ran = await new Promise<string>((resolve) => {
      const worker = queue.worker(name, (_payload, job) => resolve(job.id));
      worker.on('dead-lettered', (event) => resolve(`dead-lettered: ${event.error}`));
    });
    assert.equal(ran, longest, 'a job with a 254-byte id runs with its id');
  });
}

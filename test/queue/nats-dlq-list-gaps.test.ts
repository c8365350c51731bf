// A NATS dead-letter stream keeps the sequence numbers of the letters removed from it (retried,
// purged one by one, dropped by retention): the stream's first and last sequence span them all.
// list() (and retry(), which lists every letter) fetched each sequence number in that span one
// request at a time, each removed letter an empty round trip: 3 letters among 200 sequence numbers
// cost 151 requests. Now each request asks for the next letter at or after a sequence number
// (next_by_subj), so the requests follow the letters, not the span.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createQueue } from '../../src/queue/index.js';
import { natsNames } from '../../src/queue/nats/backend.js';
import { backendOptions, uniqueName } from './helpers.js';

test('listing dead letters costs a request per letter, not per sequence number removed letters left (NATS)', async () => {
  const queue = createQueue(backendOptions('nats'));
  const name = uniqueName('nats-dlq-gaps');
  const nc = await connect({ servers: process.env.NATS_URL ?? '127.0.0.1:4222' });
  after(async () => {
    await queue.destroy(name).catch(() => {});
    await queue.close();
    await nc.close();
  });
  const { dlqStream, dlqSubject } = natsNames(name);
  assert.deepEqual(await queue.dlq(name).list(), [], 'a new queue has no dead letters');
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  for (let i = 1; i <= 200; i++)
    await js.publish(
      dlqSubject,
      JSON.stringify({ id: `job-${i}`, queue: name, payload: i, attempt: 1, publishedAt: Date.now() }),
    );
  const kept = new Set([50, 150, 200]);
  for (let seq = 1; seq <= 200; seq++) if (!kept.has(seq)) await jsm.streams.deleteMessage(dlqStream, seq);
  // Core NATS delivers the JetStream API requests to this subscriber too: it counts them.
  let gets = 0;
  const counter = nc.subscribe(`$JS.API.STREAM.MSG.GET.${dlqStream}`, {
    callback: () => {
      gets++;
    },
  });
  await nc.flush();
  const letters = await queue.dlq(name).list();
  await nc.flush();
  counter.unsubscribe();
  assert.deepEqual(
    letters.map((l) => [l.ref, l.job.id]),
    [
      ['50', 'job-50'],
      ['150', 'job-150'],
      ['200', 'job-200'],
    ],
    'the three letters left, in order',
  );
  assert.ok(gets <= 4, `listing 3 letters among 200 sequence numbers took ${gets} message requests`);
});

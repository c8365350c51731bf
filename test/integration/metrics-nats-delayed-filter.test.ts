// The `nats` metric source leaves delayed jobs not due yet out of a consumer's backlog (see
// src/queue/nats/delayed.ts). It took out every not-due job of the stream's first delayed subject,
// whatever the consumer's filter subject: a consumer filtered to another subject of the stream lost
// jobs it is never given from its count. Measured before the fix on the stream below (3 due and 4
// not due on S.a, 2 due and 1 not due on S.b): the consumer of S.b read [0] with its 2 jobs waiting
// (a group scaled to zero stays there), the consumer of S.a [0] with 3, and the consumer of S.> [6],
// the not-due job of S.b counted as due; the queue's depth reader, given one of these consumers,
// the same. Now only the not-due jobs a consumer's filter matches are
// taken out, from every delayed subject of the stream. Real NATS on 4222, a fresh stream each run.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { AckPolicy, type JetStreamManager, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { NatsSource } from '../../src/metrics/index.js';
import { readNatsDepth } from '../../src/queue/depth.js';
import { delayedPatternsOf, filtersOf, subjectMatches } from '../../src/queue/nats/delayed.js';

const url = 'nats://127.0.0.1:4222';

/** managed connects a JetStream manager to 4222 for one test, closed after it. */
async function managed(t: TestContext): Promise<JetStreamManager> {
  const nc = await connect({ servers: '127.0.0.1:4222' });
  t.after(() => nc.close());
  return jetstreamManager(nc);
}

describe('NATS consumer backlog: delayed jobs left out only where the consumer reads', () => {
  it('takes out the not-due jobs its filter subject matches, from every delayed subject', async (t) => {
    const jsm = await managed(t);
    // Named as a queue's stream (SP_<queue>), so the queue's depth reader can read its consumers too.
    const queue = `delfilt_${randomBytes(4).toString('hex')}`;
    const stream = `SP_${queue}`;
    const [a, b] = [`${stream}.a`, `${stream}.b`];
    // Two queues' subjects in one stream, each with its delayed subject (limits retention: consumers
    // of overlapping filters each see every message).
    await jsm.streams.add({ name: stream, subjects: [a, `${a}.d.*`, b, `${b}.d.*`] });
    t.after(() => jsm.streams.delete(stream).catch(() => {}));
    const js = jsm.jetstream();
    const inAnHour = Math.ceil(Date.now() / 1000) + 3600;
    for (let i = 0; i < 3; i++) await js.publish(a, `a-due-${i}`);
    for (let i = 0; i < 4; i++) await js.publish(`${a}.d.${inAnHour}`, `a-later-${i}`);
    for (let i = 0; i < 2; i++) await js.publish(b, `b-due-${i}`);
    await js.publish(`${b}.d.${inAnHour}`, 'b-later');

    const cases = [
      { consumer: 'only-b', filter: b, expected: 2, why: "S.b's 2 due jobs; S.a's delayed ones are not its" },
      { consumer: 'only-a', filter: a, expected: 3, why: "S.a's 3 due jobs; S.a.d.* is not on its filter" },
      { consumer: 'b-later', filter: `${b}.d.*`, expected: 0, why: "S.b's one job, not due" },
      { consumer: 'all', filter: `${stream}.>`, expected: 5, why: 'the 5 due jobs, the 5 not due out' },
      { consumer: 'unfiltered', filter: undefined, expected: 5, why: 'the whole stream: as S.>' },
    ];
    for (const { consumer, filter } of cases)
      await jsm.consumers.add(stream, {
        durable_name: consumer,
        ack_policy: AckPolicy.Explicit,
        ...(filter === undefined ? {} : { filter_subject: filter }),
      });
    const read: Record<string, unknown> = {};
    for (const { consumer } of cases) {
      const source = new NatsSource({ url, stream, consumer });
      t.after(() => source.close());
      read[consumer] = await source.read().catch((error: Error) => error.message);
    }
    console.log(`consumers read: ${JSON.stringify(read)}`);
    for (const { consumer, expected, why } of cases) assert.deepEqual(read[consumer], [expected], why);

    // The queue's depth reader, given a consumer of its own, the same: delayed is what it would get.
    const depthOf = async (consumer: string) => {
      const { depth, pending, delayed } = await readNatsDepth(jsm, queue, { consumer });
      return { depth, pending, delayed };
    };
    assert.deepEqual(await depthOf('only-b'), { depth: 2, pending: 0, delayed: 0 });
    assert.deepEqual(await depthOf('all'), { depth: 5, pending: 0, delayed: 5 });

    // A consumer not made yet, read as what its filter subject will give it.
    const notMade = new NatsSource({ url, stream, consumer: 'not-made', filterSubject: `${stream}.>` });
    t.after(() => notMade.close());
    assert.deepEqual(await notMade.read(), [5], 'not made, filter S.>: both delayed subjects left out');
  });

  it('subject matching, delayed subjects and a consumer config’s filters', () => {
    assert.equal(subjectMatches('S.a', 'S.a'), true);
    assert.equal(subjectMatches('S.a', 'S.a.d.10'), false);
    assert.equal(subjectMatches('S.a.d.*', 'S.a.d.10'), true);
    assert.equal(subjectMatches('S.a.d.*', 'S.a.d.10.x'), false);
    assert.equal(subjectMatches('S.*.d.*', 'S.b.d.10'), true);
    assert.equal(subjectMatches('S.>', 'S.a.d.10'), true);
    assert.equal(subjectMatches('S.>', 'S'), false);
    assert.equal(subjectMatches('>', 'S'), true);
    assert.equal(subjectMatches('S.a.>', 'S.a'), false);
    assert.deepEqual(delayedPatternsOf(['x', 'x.d.*', 'y', 'y.d.*', 'z.d.*']), ['x.d.*', 'y.d.*']);
    assert.deepEqual(filtersOf({}), []);
    assert.deepEqual(filtersOf({ filter_subject: '' }), []);
    assert.deepEqual(filtersOf({ filter_subject: 'x' }), ['x']);
    assert.deepEqual(filtersOf({ filter_subjects: ['x', 'y.d.*'] }), ['x', 'y.d.*']);
  });
});

// bench/queue/nats-dlq-list.ts: what listing a NATS dead-letter stream costs when most of its
// sequence numbers are gaps (letters retried, purged one by one or dropped by retention), the way
// list() read it before (every sequence number from first to last, one request each) against the
// way it reads it now (the next letter at or after a sequence number: next_by_subj, a request per
// letter). Uses the NATS on 127.0.0.1:4222 and a dead-letter stream of its own, removed at the end.
// Prints every round (A B, A B, …), then the medians and their ratio.
//
//   node --import tsx bench/queue/nats-dlq-list.ts [--span 2000] [--kept 20] [--rounds 5]

import { parseArgs } from 'node:util';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createQueue } from '../../src/queue/index.js';
import { natsNames } from '../../src/queue/nats/backend.js';

const { values: args } = parseArgs({
  options: {
    span: { type: 'string', default: '2000' },
    kept: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '5' },
  },
});
for (const flag of ['span', 'kept', 'rounds'] as const)
  if (!/^[1-9]\d*$/.test(args[flag]))
    throw new Error(`--${flag}: want a whole number ≥ 1, got ${JSON.stringify(args[flag])}`);
const span = Number(args.span);
const kept = Number(args.kept);
const rounds = Number(args.rounds);
if (kept > span) throw new Error(`--kept: at most --span (${span}), got ${kept}`);

const servers = process.env.NATS_URL ?? '127.0.0.1:4222';
const name = `bench-dlq-list-${process.pid}-${Date.now()}`;
const queue = createQueue({ backend: 'nats', servers });
const nc = await connect({ servers });
const { dlqStream, dlqSubject } = natsNames(name);
try {
  await queue.dlq(name).list(); // declares the streams
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  for (let i = 1; i <= span; i++)
    await js.publish(
      dlqSubject,
      JSON.stringify({ id: `job-${i}`, queue: name, payload: i, attempt: 1, publishedAt: Date.now() }),
    );
  // Keep `kept` letters spread over the span, the last one included; remove the rest.
  const keep = new Set(Array.from({ length: kept }, (_, i) => Math.round(((i + 1) * span) / kept)));
  for (let seq = 1; seq <= span; seq++) if (!keep.has(seq)) await jsm.streams.deleteMessage(dlqStream, seq);

  let gets = 0;
  const counter = nc.subscribe(`$JS.API.STREAM.MSG.GET.${dlqStream}`, {
    callback: () => {
      gets++;
    },
  });
  /** before: the former list(), every sequence number from first to last, one request each. */
  const before = async () => {
    const { state } = await jsm.streams.info(dlqStream);
    let found = 0;
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++)
      if (await jsm.streams.getMessage(dlqStream, { seq }).catch(() => null)) found++;
    return found;
  };
  const after = async () => (await queue.dlq(name).list(Number.MAX_SAFE_INTEGER)).length;
  const measure = async (read: () => Promise<number>) => {
    await nc.flush();
    gets = 0;
    const t0 = process.hrtime.bigint();
    const found = await read();
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    await nc.flush();
    if (found !== kept) throw new Error(`read ${found} letters, want ${kept}`);
    return { ms, gets };
  };
  const times: Record<'before' | 'after', number[]> = { before: [], after: [] };
  console.log(`dead-letter stream: ${kept} letters over ${span} sequence numbers, ${rounds} rounds`);
  for (let r = 1; r <= rounds; r++) {
    for (const [label, read] of [
      ['before', before],
      ['after', after],
    ] as const) {
      const { ms, gets: requests } = await measure(read);
      times[label].push(ms);
      console.log(
        `round ${r} ${label.padEnd(6)} ${ms.toFixed(1).padStart(8)} ms  ${requests} message requests`,
      );
    }
  }
  counter.unsubscribe();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const mb = median(times.before);
  const ma = median(times.after);
  console.log(
    `median: before ${mb.toFixed(1)} ms, after ${ma.toFixed(1)} ms (${(mb / ma).toFixed(1)}x less time after)`,
  );
} finally {
  await queue.destroy(name).catch(() => {});
  await queue.close();
  await nc.close();
}

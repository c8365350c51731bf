import { randomUUID } from 'node:crypto';
import type { ChannelModel, GetMessage, MessageProperties, Options } from 'amqplib';

/**
 * A pass over a dead-letter queue that reads every letter without spending a delivery attempt.
 *
 * AMQP cannot browse a queue: a letter is read by taking it (`basic.get`). Given back with a
 * requeue (nack, reject, or its channel closing), a quorum queue counts a delivery attempt in
 * `x-delivery-count`, and from RabbitMQ 4.0 every quorum queue has a delivery limit (20 by
 * default; a `delivery-limit` policy does the same on 3.x): past it the letter is dead-lettered,
 * and a dead-letter queue has no dead-letter exchange of its own, so it was dropped. About 20
 * `list()` calls, or retries of some letters (the others were requeued), emptied the DLQ.
 *
 * So a pass never gives a letter back: it takes each one, publishes an identical copy to the tail
 * of the same queue (a new message, its count 0), and acks the original once the broker confirmed
 * the copy. Once every letter counted at the start went round, they are in their old order again.
 * A letter the visitor takes off (a retry re-queued its job) is acked without a copy. The parked
 * queue's jobs (see unpark.ts) are moved back the same way: what cannot move is kept so.
 *
 * Nothing is lost on a crash: an original is acked only after its copy is confirmed. A crash (or
 * lost connection) between the two leaves both, at most one batch; a letter carries an identity
 * (its `x-sp-dead-id`, or the `x-sp-letter` stamped on its first copy), each copy its own id and
 * the id of the message it was copied from (`x-sp-copy`, `x-sp-copy-of`; an original's is
 * `original`), and the next pass keeps the first message of an identity it meets and drops those
 * related to it (its copy, its original, a sibling copy). What the broker dead-lettered itself
 * carries no identity before its first copy: such a letter stays twice.
 *
 * Passes from other processes may run at once (the lock below is per process). One takes letters
 * this pass copied and copies them on: a pass can meet a letter again, through the other's copy,
 * unrelated to the message it met first. Before, that was taken for a crash's duplicate and
 * dropped, while the other pass had acked the message it was copied from: the letter was gone (a
 * `list()` beside a `retry()` of some letters in another process). It is moved round now, unvisited.
 * A pass also meets its own copies once others took letters meanwhile: the pass is over, and the
 * copy is copied once more. Before, it was given back (nack with requeue), which spent a delivery
 * attempt: under a delivery limit of 0 the broker dropped the letter. A pass cut short
 * also leaves the letters it moved behind the ones it did not reach, and letters dead-lettered
 * during a pass land among its copies: the queue's order is not the letters' order any more, so a
 * listing sorts them by when each was first kept (letterTime).
 */

/** Header naming a letter across copies, for letters that carry no `x-sp-dead-id`. */
export const LETTER_ID = 'x-sp-letter';
/** Header marking a copy made by one pass, so the pass knows its own copies if it meets them. */
const PASS = 'x-sp-pass';
/** Header naming one message of a letter: each copy gets its own. */
const COPY = 'x-sp-copy';
/** Header naming the message a copy was made from: its `COPY`, or ORIGINAL. */
const COPY_OF = 'x-sp-copy-of';
/** What a message that is no copy (as its writer wrote it) is named by in COPY_OF. */
const ORIGINAL = 'original';
/** Header holding when the letter was first kept (ms), so copying it does not restart its TTL. */
export const KEPT_SINCE = 'x-sp-kept-since';
/** Headers the broker sets on delivery; copied, they would be stale on the copy. */
const BROKER_SET = ['x-delivery-count', 'x-acquired-count'];
/** How many copies are published before their confirms are awaited and their originals acked. */
const BATCH = 100;

/** What a visitor does with one letter: keep it in the queue, or take it off (its job moved on). */
export type LetterFate = 'keep' | 'taken';

/** PassOptions are what a pass needs besides the queue. */
export interface PassOptions {
  /** The header holding a letter's own id, when its writer gave it one. */
  idHeader: string;
  /** The header holding when the letter was written (ms), when its writer gave it one. */
  writtenAtHeader: string;
  /** The DLQ's x-message-ttl (ms) when it was declared with one, so a copy expires when its original would. */
  ttl?: number;
  now?: () => number;
}

/** letterIdentity is the id that tells the copies of one letter apart from other letters, if any. */
export function letterIdentity(headers: Record<string, unknown>, idHeader: string): string | undefined {
  const id = headers[idHeader] ?? headers[LETTER_ID];
  return id === undefined ? undefined : String(id);
}

/**
 * lineage names a message of a letter and the message it was copied from. Two messages of one
 * letter that share a name are a message and its copy, or two copies of one message: both
 * exist only when a pass stopped between a copy and the ack of its source (a crash, a lost
 * connection). Two messages of one letter that share none are one letter moved on by another
 * pass meanwhile (see above).
 */
export function lineage(headers: Record<string, unknown>): string[] {
  const self = headers[COPY] === undefined ? ORIGINAL : String(headers[COPY]);
  return headers[COPY_OF] === undefined ? [self] : [self, String(headers[COPY_OF])];
}

/**
 * letterTime is when a letter was first kept (ms): its stamp from an earlier copy, else when its
 * writer says it was written, else `now` (a letter nobody dated is dated by the first pass that
 * meets it, as its copy will be).
 */
export function letterTime(headers: Record<string, unknown>, writtenAtHeader: string, now: number): number {
  const at = Number(headers[KEPT_SINCE] ?? headers[writtenAtHeader] ?? now);
  return Number.isFinite(at) ? at : now;
}

/**
 * copyOf is the publish of a letter's copy: same body and properties, an identity, the pass's
 * mark, and with a TTL the part of it the letter has left (`undefined`: its time is up, the broker
 * would have dropped it already).
 */
export function copyOf(
  properties: MessageProperties,
  pass: string,
  options: PassOptions,
): Options.Publish | undefined {
  const now = (options.now ?? Date.now)();
  const headers: Record<string, unknown> = { ...(properties.headers ?? {}) };
  for (const name of BROKER_SET) delete headers[name];
  headers[LETTER_ID] ??= headers[options.idHeader] ?? randomUUID();
  headers[COPY_OF] = lineage(headers)[0];
  headers[COPY] = randomUUID();
  headers[KEPT_SINCE] = letterTime(headers, options.writtenAtHeader, now);
  headers[PASS] = pass;
  let expiration = properties.expiration as string | number | undefined;
  if (options.ttl !== undefined) {
    const left = (headers[KEPT_SINCE] as number) + options.ttl - now;
    if (left <= 0) return undefined;
    expiration = String(Math.min(left, Number(expiration ?? Number.POSITIVE_INFINITY)));
  }
  const {
    messageId,
    contentType,
    contentEncoding,
    priority,
    correlationId,
    replyTo,
    timestamp,
    type,
    appId,
  } = properties;
  // userId is left out: the broker checks it against the connection's user, and may refuse it.
  return {
    persistent: true,
    headers,
    ...(expiration === undefined ? {} : { expiration }),
    ...defined({
      messageId,
      contentType,
      contentEncoding,
      priority,
      correlationId,
      replyTo,
      timestamp,
      type,
      appId,
    }),
  };
}

/**
 * passFree is `headers` without what the broker set on delivery and what passes stamped: a message
 * leaving the queue a pass goes over (a parked job moved back to its work queue) is a job again, and
 * stale headers would mislead whatever reads it there (a stale `x-delivery-count` read as attempts).
 */
export function passFree(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...(headers ?? {}) };
  for (const name of [...BROKER_SET, LETTER_ID, KEPT_SINCE, PASS, COPY, COPY_OF]) delete out[name];
  return out;
}

function defined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));
}

/** Passes under way per queue in this process: one at a time, so none meets another's copies. */
const running = new Map<string, Promise<unknown>>();

/**
 * passDeadLetters takes every letter of `dlq` there at the start, once, in order, and hands each
 * to `visit` (duplicates of an identity already met left out, and dropped): a kept letter goes to
 * the tail, a taken one is acked. `visit` may throw: the letters not visited yet are still moved
 * round, so the queue keeps its order, and the pass then rejects with that error.
 */
export function passDeadLetters(
  model: ChannelModel,
  dlq: string,
  visit: (msg: GetMessage) => Promise<LetterFate>,
  options: PassOptions,
): Promise<void> {
  const before = running.get(dlq) ?? Promise.resolve();
  const pass = before.catch(() => {}).then(() => runPass(model, dlq, visit, options));
  running.set(dlq, pass);
  const clear = () => {
    if (running.get(dlq) === pass) running.delete(dlq);
  };
  pass.then(clear, clear);
  return pass;
}

async function runPass(
  model: ChannelModel,
  dlq: string,
  visit: (msg: GetMessage) => Promise<LetterFate>,
  options: PassOptions,
): Promise<void> {
  const ch = await model.createConfirmChannel();
  ch.on('error', () => {});
  const pass = randomUUID();
  /** Identities met in this pass, each with the lineage names of the messages that bore it. */
  const met = new Map<string, Set<string>>();
  let failure: { error: unknown } | undefined;
  try {
    const { messageCount } = await ch.checkQueue(dlq);
    let batch: GetMessage[] = [];
    const settle = async () => {
      await ch.waitForConfirms();
      for (const msg of batch) ch.ack(msg);
      batch = [];
    };
    /** keep sends a copy of `msg` to the tail; `msg` is acked once the copy is confirmed. */
    const keep = (msg: GetMessage) => {
      const copy = copyOf(msg.properties, pass, options);
      if (copy) ch.publish('', dlq, msg.content, copy);
      batch.push(msg);
    };
    for (let n = 0; n < messageCount; n++) {
      const msg = await ch.get(dlq, { noAck: false });
      if (!msg) break;
      const headers = msg.properties.headers ?? {};
      if (headers[PASS] === pass) {
        // Our own copy: another process took letters meanwhile, and every one left has gone round.
        // Copied once more, not given back: a requeue spends a delivery attempt (see above).
        keep(msg);
        break;
      }
      const id = letterIdentity(headers, options.idHeader);
      const names = lineage(headers);
      const bore = id === undefined ? undefined : met.get(id);
      if (bore !== undefined) {
        const related = names.some((name) => bore.has(name));
        for (const name of names) bore.add(name);
        // A message related to one met already (left by a crash between a copy and its ack): the
        // first is kept or re-queued, so this one goes. An unrelated one is the letter come round
        // again through another process's pass: visited already, it stays.
        if (related) batch.push(msg);
        else keep(msg);
        if (batch.length >= BATCH) await settle();
        continue;
      }
      if (id !== undefined) met.set(id, new Set(names));
      let fate: LetterFate = 'keep';
      if (!failure) {
        try {
          fate = await visit(msg);
        } catch (error) {
          failure = { error };
        }
      }
      if (fate === 'taken') {
        // Its job is stored already (the visitor waited for that): acked at once, so a crash
        // leaves at most this one letter both re-queued and dead-lettered.
        ch.ack(msg);
        continue;
      }
      keep(msg);
      if (batch.length >= BATCH) await settle();
    }
    await settle();
  } finally {
    // Anything still held (a failed confirm) goes back as the channel closes: counted, not lost.
    await ch.close().catch(() => {});
  }
  if (failure) throw failure.error;
}

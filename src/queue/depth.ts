import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from '@nats-io/jetstream';
import type { Channel } from 'amqplib';
import type { Redis } from 'ioredis';
import { monotonicNow } from '../clock.js';
import { errorMessage, QueueError } from './errors.js';
import { natsNames } from './nats/backend.js';
import { filtersOf, readNotDue, splitBacklog } from './nats/delayed.js';
import { rabbitNames } from './rabbitmq/topology.js';
import { redisKeys } from './redis/backend.js';
import type { DepthReading } from './types.js';

/**
 * Depth readers: one function per broker, each taking a client the caller owns, so a metric
 * source (or the example's scaler) can read backlog without creating a Queue.
 */

/** depthRate is the arrival rate in jobs/s between two readings, or undefined without counters. */
export function depthRate(previous: DepthReading | undefined, current: DepthReading): number | undefined {
  if (!previous || previous.added === undefined || current.added === undefined) return undefined;
  const seconds = (current.at - previous.at) / 1000;
  if (seconds <= 0) return undefined;
  return Math.max(0, (current.added - previous.added) / seconds);
}

/** withRate returns `current` with `rate` filled in from `previous`, when both carry counters. */
export function withRate(previous: DepthReading | undefined, current: DepthReading): DepthReading {
  const rate = depthRate(previous, current);
  return rate === undefined ? current : { ...current, rate };
}

/**
 * readRedisDepth reads a Redis Streams queue: waiting (delayed jobs due now included), pending
 * (delivered, unacked) and delayed jobs not due yet. A stream that does not exist (no job published
 * yet) or a group that does not exist (no worker yet) reads as nothing there. Any other failure (a
 * command the ACL user may not run, a key that is not a stream or sorted set, a lost connection)
 * rejects with a QUEUE_BACKEND QueueError naming the queue, the command and the cause: there is no
 * reading then, and a caller scaling on it must act on none (as the HPA does on a missing metric).
 */
export async function readRedisDepth(
  redis: Redis,
  queue: string,
  options: { prefix?: string; group?: string; previous?: DepthReading } = {},
): Promise<DepthReading> {
  const keys = redisKeys(options.prefix ?? 'sp', queue);
  const failed = (what: string, cause: unknown): never => {
    throw new QueueError(
      'QUEUE_BACKEND',
      `redis: depth of queue "${queue}" not read: ${what} failed (${errorMessage(cause)})`,
      { cause },
    );
  };
  // TYPE in the same MULTI tells a stream that is not there (XINFO answers "no such key") from one
  // that is, without reading the errors' text. A command refused as it is queued (NOPERM) aborts the
  // whole MULTI (EXECABORT); ioredis keeps the refusals, each with its command, in `previousErrors`.
  const replies = (await redis
    .multi()
    .type(keys.stream)
    .xlen(keys.stream)
    .eval(DELAYED_DUE, 1, keys.delayed)
    .xinfo('GROUPS', keys.stream)
    .xinfo('STREAM', keys.stream)
    .exec()
    .catch((error: unknown) => {
      const refused = (error as { previousErrors?: { command?: RedisCommand }[] }).previousErrors?.[0];
      if (refused?.command) failed(describeCommand(refused.command, keys.delayed), refused);
      return failed(`MULTI on ${keys.stream}`, error);
    })) as [Error | null, unknown][];
  const absent = replies[0]?.[0] === null && replies[0][1] === 'none';
  // Before, every error reply read as nothing there: an XLEN refused (WRONGTYPE) as depth 0, which
  // could scale a worker group to zero, an XINFO GROUPS refused as pending 0, and a delayed count
  // refused (a script's ZCOUNT denied, a `:delayed` key of another type) as no due jobs.
  const what = [
    `TYPE of ${keys.stream}`,
    `XLEN of ${keys.stream}`,
    `delayed-job count of ${keys.delayed}`,
    `XINFO GROUPS of ${keys.stream}`,
    `XINFO STREAM of ${keys.stream}`,
  ];
  for (const [i, [error]] of replies.entries()) {
    // Only XINFO fails on a stream that is not there; the others read it as empty.
    if (error && !(absent && i >= 3)) failed(what[i]!, error);
  }
  const [, len, delayed, groups, info] = replies.map(([error, value]) => (error ? undefined : value));
  const [due, all] = (delayed as [number, number]).map(Number) as [number, number];
  const group = ((groups ?? []) as string[][]).find((g) => g[1] === (options.group ?? 'workers'));
  const pending = Number(group ? fieldOf(group, 'pending') : 0);
  const added = info ? fieldOf(info as string[], 'entries-added') : undefined;
  // Acked entries are deleted, so the stream holds exactly the waiting plus the pending ones. Due
  // delayed jobs wait too: only a running worker moves them into the stream, so with none (a group
  // scaled to zero, which this reading is to wake) they are counted here, as NATS and RabbitMQ
  // (whose broker moves them itself) count theirs.
  const reading: DepthReading = {
    depth: Math.max(0, Number(len) - pending) + due,
    pending,
    delayed: all - due,
    ...(added === undefined ? {} : { added: Number(added) }),
    at: monotonicNow(),
  };
  return withRate(options.previous, reading);
}

/**
 * DELAYED_DUE counts a `:delayed` set's jobs due now on the Redis clock (the one they were
 * scheduled on) and all of them: `{due, total}`. KEYS[1] delayed zset.
 */
const DELAYED_DUE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {redis.call('ZCOUNT', KEYS[1], '-inf', now), redis.call('ZCARD', KEYS[1])}
`;

/** RedisCommand is how ioredis names a command on its reply error. */
interface RedisCommand {
  name?: string;
  args?: unknown[];
}

/** describeCommand names a command of readRedisDepth's MULTI in an error: `XINFO GROUPS of <key>`. */
function describeCommand(command: RedisCommand, delayed: string): string {
  const name = (command.name ?? 'MULTI').toUpperCase();
  const args = command.args ?? [];
  if (name === 'EVAL' || name === 'EVALSHA') return `delayed-job count of ${delayed}`;
  if (name === 'XINFO') return `XINFO ${String(args[0])} of ${String(args[1])}`;
  return `${name} of ${String(args[0])}`;
}

function fieldOf(fields: readonly unknown[], name: string): unknown {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * readRabbitDepth reads a RabbitMQ queue's ready messages on a channel the caller owns. AMQP has no
 * unacked count or arrival counter (those need the management plugin), so `pending` and `rate`
 * stay undefined. A missing queue closes the channel, as AMQP does.
 */
export async function readRabbitDepth(
  channel: Channel,
  queue: string,
  options: { prefix?: string } = {},
): Promise<DepthReading> {
  const reply = await channel.checkQueue(rabbitNames(options.prefix ?? 'sp', queue).queue);
  return { depth: reply.messageCount, at: monotonicNow() };
}

/**
 * readNatsDepth reads a JetStream queue: jobs due and not yet delivered (`depth`), delivered and
 * unacked (`pending`), and delayed ones not due yet (`delayed`), left out of the other two (see
 * nats/delayed.ts; which of the two held them is estimated, their sum is exact). With no consumer
 * yet (JetStream's ConsumerNotFound, 10014) every stored job is waiting. Any other failure rejects
 * with a QUEUE_BACKEND QueueError naming the queue and the request that failed: there is no reading
 * then, and a caller scaling on it must act on none (as the HPA does on a missing metric).
 */
export async function readNatsDepth(
  jsm: JetStreamManager,
  queue: string,
  options: { consumer?: string; previous?: DepthReading } = {},
): Promise<DepthReading> {
  const names = natsNames(queue);
  const consumer = options.consumer ?? 'workers';
  const failed = (what: string) => (cause: unknown) => {
    throw new QueueError(
      'QUEUE_BACKEND',
      `nats: depth of queue "${queue}" not read: ${what} failed (${errorMessage(cause)})`,
      { cause },
    );
  };
  const stream = await jsm.streams.info(names.stream).catch(failed(`stream info of ${names.stream}`));
  // Only a missing consumer means nothing was delivered yet. Before, any failure of this request (a
  // timeout, a permission denied, a lost connection) read as every stored job waiting: a full
  // backlog that scaled workers out for nothing, and the failure went unseen.
  const info = await jsm.consumers.info(names.stream, consumer).catch((error: unknown) => {
    if (error instanceof JetStreamApiError && error.code === JetStreamApiCodes.ConsumerNotFound)
      return undefined;
    return failed(`consumer info of ${names.stream}/${consumer}`)(error);
  });
  const waiting = info?.num_pending ?? stream.state.messages;
  const unacked = info?.num_ack_pending ?? 0;
  // Due or not is judged on the wall clock, the one the producers' not-before headers are set on;
  // the reading is dated on the decision clock, as the others, for its rate.
  const notDue = await readNotDue(jsm, stream, Date.now(), filtersOf(info?.config ?? {})).catch(
    failed(`delayed-job count of ${names.stream}`),
  );
  const at = monotonicNow();
  return withRate(options.previous, {
    ...splitBacklog(waiting, unacked, notDue),
    added: stream.state.last_seq,
    at,
  });
}

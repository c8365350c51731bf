import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { createRedis, guardRedisSecrets, redisSecrets } from '../../redis-secrets.js';
import { backoffDelay } from '../backoff.js';
import { requeuable } from '../dead-letter.js';
import { readRedisDepth } from '../depth.js';
import { type DecodedEnvelope, decodeEnvelope } from '../envelope.js';
import { errorMessage, InvalidArgumentError, QueueError } from '../errors.js';
import { answeredWithin, BROKER_GRACE, settledWithin } from '../grace.js';
import { PullLoop } from '../pull-loop.js';
import { redisDeadLetterTrim } from '../retention.js';
import type {
  BackendContext,
  ConsumeOptions,
  Consumption,
  DeadLetter,
  DeadLetterReason,
  Delivery,
  JobEnvelope,
  QueueBackend,
} from '../types.js';
import {
  HEARTBEAT,
  PROMOTE,
  PRUNE_CONSUMERS,
  REQUEUE,
  SCHEDULE,
  Script,
  SETTLE,
  TRIM_DEAD_LETTERS,
  UNCOUNT_OWN,
} from './scripts.js';

/** RedisBackendOptions configures the Redis Streams backend. */
export interface RedisBackendOptions {
  /** URL or ioredis options. @defaultValue 'redis://127.0.0.1:6379' */
  redis?: string | RedisOptions;
  /** Key prefix; keys are `<prefix>:{<queue>}:stream|delayed|dlq` (one hash slot per queue). @defaultValue 'sp' */
  prefix?: string;
}

const GROUP = 'workers';
/** XAUTOCLAIM calls a claim round makes at most (each scans up to 10 × free pending entries). */
const MAX_CLAIM_CALLS = 100;
const settle = new Script(SETTLE);
const schedule = new Script(SCHEDULE);
const promote = new Script(PROMOTE);
const requeue = new Script(REQUEUE);
const pruneConsumers = new Script(PRUNE_CONSUMERS);
const heartbeat = new Script(HEARTBEAT);
const uncountOwn = new Script(UNCOUNT_OWN);
const trimDeadLetters = new Script(TRIM_DEAD_LETTERS);
/** Entries of its own pending list a worker reads at a time, looking for unseen ones. */
const UNSEEN_PAGE = 100;
/** Stalled-claim rounds a consumer with no pending entry may stay idle through before it is pruned. */
const PRUNE_AFTER_STALL_TIMEOUTS = 4;

/** redisKeys names the keys of one queue. */
export function redisKeys(prefix: string, queue: string): { stream: string; delayed: string; dlq: string } {
  const base = `${prefix}:{${queue}}`;
  return { stream: `${base}:stream`, delayed: `${base}:delayed`, dlq: `${base}:dlq` };
}

type StreamEntry = [id: string, fields: string[]];

/**
 * ms a move of dead letters keeps its count (see REQUEUE): longer than ioredis holds a command
 * across reconnects before it re-sends it, in practice.
 */
const REQUEUE_COUNT_KEPT = 3_600_000;

/** How many dead letters a retry reads and moves at a time (one XRANGE, one script). */
export const RETRY_BATCH = 500;

function field(fields: string[], name: string): string | undefined {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/**
 * decodeEntry reads the job of stream entry `id`. An entry with no `job` field is another
 * producer's message: its fields, as an object, are the stand-in's payload, so the dead letter keeps
 * the message. Before, the stand-in had no payload and the dead letter kept nothing of it (`{other:
 * 'x'}` read back as `undefined`), where the other backends keep the message's body.
 */
function decodeEntry(fields: string[], queue: string, id: string): DecodedEnvelope {
  const text = field(fields, 'job');
  const decoded = decodeEnvelope(text, queue, id);
  if (text !== undefined) return decoded;
  const payload: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) payload[fields[i]!] = fields[i + 1]!;
  return { ...decoded, envelope: { ...decoded.envelope, payload } };
}

/**
 * toDeadLetter reads dead-letter entry `ref`. One that holds no job (another producer's entry, a
 * `job` field that is not JSON or not an envelope) is listed with `notJob` and the entry as its
 * stand-in's payload. Before, a `job` field that was not JSON failed `list()` and `retry()` for
 * the whole queue, and an entry with none was listed, and re-queued, as the empty job `{}`.
 */
function toDeadLetter(queue: string, ref: string, fields: string[]): DeadLetter {
  const { envelope, problem } = decodeEntry(fields, queue, ref);
  const reason = field(fields, 'reason');
  return {
    ref,
    job: envelope,
    ...(problem === undefined ? {} : { notJob: problem }),
    error: field(fields, 'error') ?? '',
    ...(reason ? { reason: reason as DeadLetterReason } : {}),
    failedAt: Number(field(fields, 'failedAt') ?? 0),
  };
}

/** createRedisBackend runs queues on Redis Streams with one consumer group per queue. */
export function createRedisBackend(options: RedisBackendOptions, context: BackendContext): QueueBackend {
  const prefix = options.prefix ?? 'sp';
  const clients = new Set<Redis>();
  let closed = false;

  const connect = (role: string): Redis => {
    let attempt = 0;
    const base: RedisOptions = typeof options.redis === 'object' ? options.redis : {};
    const settings: RedisOptions = {
      ...base,
      // Commands wait across reconnects; the queue bounds how many and for how long.
      maxRetriesPerRequest: null,
      retryStrategy: (times) => {
        attempt = times;
        return closed ? null : backoffDelay(times, context.reconnect, context.random);
      },
    };
    // Its errors never carry the password (see createRedis): a refused AUTH held it in its fields,
    // and each is reported (QUEUE_CONNECTION, with it as the cause) and rejects the queued commands.
    const client =
      typeof options.redis === 'string'
        ? createRedis(options.redis, settings, (detail) => new InvalidArgumentError('redis', detail))
        : guardRedisSecrets(new Redis(settings), redisSecrets(undefined, settings));
    let wasReady = false;
    client.on('ready', () => {
      if (wasReady || attempt > 0) context.onConnection({ state: 'connected' });
      wasReady = true;
      attempt = 0;
    });
    client.on('reconnecting', (delay: number) =>
      context.onConnection({ state: 'reconnecting', attempt, delay }),
    );
    client.on('error', (error: Error) =>
      context.onError(
        new QueueError('QUEUE_CONNECTION', `redis (${role}): ${error.message}`, { cause: error }),
      ),
    );
    clients.add(client);
    return client;
  };
  const commands = connect('commands');
  const groups = new Set<string>();
  const allTimers = new Set<NodeJS.Timeout>();
  /** This backend's consumers (name → stream key), removed from their group as it closes. */
  const ownConsumers = new Map<string, string>();

  const ensureGroup = async (queue: string, force = false) => {
    if (groups.has(queue) && !force) return;
    try {
      await commands.xgroup('CREATE', redisKeys(prefix, queue).stream, GROUP, '0', 'MKSTREAM');
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('BUSYGROUP'))) throw error;
    }
    groups.add(queue);
  };

  const encode = (envelope: JobEnvelope) => JSON.stringify(envelope);
  /** Redis keeps no limits of its own on a stream: the DLQ is trimmed as letters are written and read. */
  const deadLetterTrim = redisDeadLetterTrim(context.deadLetterRetention);

  return {
    name: 'redis',

    async publish(envelope, delay) {
      const keys = redisKeys(prefix, envelope.queue);
      await ensureGroup(envelope.queue);
      if (delay > 0) await schedule.run(commands, [keys.delayed], [delay, encode(envelope)]);
      else await commands.xadd(keys.stream, '*', 'job', encode(envelope));
    },

    async consume(queue, consumeOptions) {
      await ensureGroup(queue);
      return startConsumer(queue, consumeOptions);
    },

    async depth(queue) {
      await ensureGroup(queue);
      return readRedisDepth(commands, queue, { prefix, group: GROUP });
    },

    async listDeadLetters(queue, limit) {
      const key = redisKeys(prefix, queue).dlq;
      // Letters past their age are gone here too, written since or not.
      await trimDeadLetters.run(commands, [key], deadLetterTrim);
      // Infinity (every letter) is no COUNT at all: Redis refuses it as "not an integer".
      const entries = (
        Number.isFinite(limit)
          ? await commands.xrange(key, '-', '+', 'COUNT', limit)
          : await commands.xrange(key, '-', '+')
      ) as StreamEntry[];
      return entries.map(([ref, fields]) => toDeadLetter(queue, ref, fields));
    },

    async retryDeadLetters(queue, refs) {
      const keys = redisKeys(prefix, queue);
      await ensureGroup(queue);
      // Letters past their age are gone for a retry too. Done here, not left to a listing before
      // (dlq().retry() without refs lists nothing first any more).
      await trimDeadLetters.run(commands, [keys.dlq], deadLetterTrim);
      const wanted = refs === undefined ? undefined : new Set(refs);
      let moved = 0;
      /** Letters in the batch whose move was sent and not answered when the retry stopped. */
      let underWay = 0;
      // Each call waits at most publishTimeout, and a failure says how many letters moved. Before,
      // a retry whose Redis stopped answering after a batch stayed pending for as long as it did
      // (commands wait across reconnects), and any failure after the first batch (500 letters)
      // went up as Redis's bare error: the caller could not tell how many had moved.
      const answered = <T>(call: Promise<T>): Promise<T> =>
        answeredWithin(
          call,
          context.publishTimeout,
          () =>
            new QueueError(
              'QUEUE_CONNECTION',
              `no answer from redis within ${context.publishTimeout} ms (publishTimeout)`,
            ),
        );
      try {
        let start = '-';
        for (;;) {
          const entries = (await answered(
            commands.xrange(keys.dlq, start, '+', 'COUNT', RETRY_BATCH),
          )) as StreamEntry[];
          const batch = entries
            .filter(([ref]) => wanted === undefined || wanted.has(ref))
            .map(([ref, fields]) => toDeadLetter(queue, ref, fields))
            .filter(requeuable);
          if (batch.length > 0) {
            const args = batch.flatMap(({ ref, job }) => [ref, encode({ ...job, attempt: 1, stalls: 0 })]);
            // A key of this move's own, so a run of it re-sent by ioredis answers the first's count.
            const count = `${keys.dlq}:moved:${randomBytes(8).toString('hex')}`;
            underWay = batch.length;
            moved += Number(
              await answered(
                requeue.run(commands, [keys.dlq, keys.stream, count], [REQUEUE_COUNT_KEPT, ...args]),
              ),
            );
            underWay = 0;
          }
          if (entries.length < RETRY_BATCH) return moved;
          start = `(${entries[entries.length - 1]![0]}`;
        }
      } catch (error) {
        // A move under way is one script: it may still run, whole, once Redis answers again.
        const mayMove =
          underWay > 0 ? ` (and the ${underWay} of the batch under way may move yet, all or none)` : '';
        throw new QueueError(
          error instanceof QueueError ? error.code : 'QUEUE_BACKEND',
          `redis: retry of the dead letters of queue "${queue}" stopped (${errorMessage(error)}); the letters not re-queued stay in ${keys.dlq}; ${moved} moved${mayMove}`,
          { cause: error },
        );
      }
    },

    async purgeDeadLetters(queue) {
      const key = redisKeys(prefix, queue).dlq;
      // Letters past their age are gone already, as for list() and retry():
      // before, with no letter written, listed or claim round since, they were counted as purged.
      await trimDeadLetters.run(commands, [key], deadLetterTrim);
      const [[, count]] = (await commands.multi().xlen(key).del(key).exec()) as [[Error | null, number]];
      return Number(count);
    },

    async destroy(queue) {
      const keys = redisKeys(prefix, queue);
      await commands.del(keys.stream, keys.delayed, keys.dlq);
      groups.delete(queue);
    },

    async close() {
      if (closed) return;
      closed = true;
      for (const t of allTimers) clearInterval(t);
      // Each worker made a consumer in its group; left there, they piled up with every start of a
      // worker (a group scaling in and out made one each time). One still holding entries is kept.
      await settledWithin(
        Promise.all(
          [...ownConsumers].map(([consumer, stream]) =>
            pruneConsumers
              .run(commands, [stream], [GROUP, Number.MAX_SAFE_INTEGER, consumer])
              .catch(() => {}),
          ),
        ),
        BROKER_GRACE,
      );
      // QUIT waits for the server's reply: one that stopped answering would hold close() for good.
      await Promise.all(
        [...clients].map(async (c) => {
          if (!(await settledWithin(c.quit(), BROKER_GRACE))) c.disconnect();
        }),
      );
    },
  };

  function startConsumer(queue: string, opts: ConsumeOptions): Consumption {
    const keys = redisKeys(prefix, queue);
    const consumer = `${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
    ownConsumers.set(consumer, keys.stream);
    const blocking = connect(`consumer ${queue}`);
    const owned = new Set<string>();
    const loop = new PullLoop({ label: `redis consumer ${queue}`, context, freeSlots: opts.freeSlots });
    /** performance.now() of the last claim round; the first pull makes one. */
    let lastClaim = Number.NEGATIVE_INFINITY;
    /** Where the last XAUTOCLAIM stopped in the pending list; '0-0' = from its start. */
    let claimCursor = '0-0';
    /** Set when the reading connection is back after a drop: a read's answer may have been lost. */
    let lookForUnseen = false;
    let blockingWasReady = false;
    blocking.on('ready', () => {
      if (blockingWasReady) lookForUnseen = true;
      blockingWasReady = true;
    });
    /**
     * The reading connection's client id, so stop() can end a pending XREADGROUP BLOCK at once
     * (CLIENT UNBLOCK). Each reconnect is a new connection with a new id: read once at the start,
     * a close() after a reconnect unblocked a client long gone and waited out the block (~1 s).
     * Asked on 'connect', not 'ready': ioredis re-sends the read that was in flight before it
     * emits 'ready', and a CLIENT ID queued behind that read was answered only when the block
     * ended; while it sets the connection up, CLIENT (a handshake command) goes out at once.
     */
    const readBlockingId = () => blocking.client('ID').catch(() => undefined);
    let blockingId = readBlockingId();
    blocking.on('connect', () => {
      blockingId = readBlockingId();
    });

    /**
     * `count` is the entry's delivery count: each delivery past the first was an XAUTOCLAIM of an
     * entry whose worker stopped extending it, a stall. Retries and hand-backs write a new entry, so
     * they never count; the stalls of earlier entries of the job travel in the envelope.
     */
    const deliveryFor = (id: string, envelope: JobEnvelope, count: number, malformed?: string): Delivery => {
      owned.add(id);
      const stalledHere = Math.max(0, count - 1);
      const attempt = envelope.attempt + stalledHere;
      const stalls = (envelope.stalls ?? 0) + stalledHere;
      /**
       * `handlerOutcome`: a retry or dead letter the worker will emit and count. SETTLE writes
       * neither once another worker has claimed the entry (this one stalled past its stallTimeout),
       * and the worker must not report it as done: it said `dead-lettered` and counted one while the
       * dead-letter queue held none and the job went on to complete elsewhere. A hand-back of such
       * an entry has nothing to do.
       */
      const run = async (mode: string, extra: (string | number)[], handlerOutcome = false) => {
        let written: unknown;
        try {
          written = await settle.run(
            commands,
            [keys.stream, keys.delayed, keys.dlq],
            [GROUP, consumer, id, mode, ...extra],
          );
        } finally {
          owned.delete(id);
        }
        // -1 (pending nowhere) is this settle re-sent after its answer was lost: already written.
        if (handlerOutcome && Number(written) === 0)
          throw new QueueError(
            'QUEUE_BACKEND',
            `job ${envelope.id} (entry ${id}) was claimed by another worker, which settles it; its ${mode === 'dead' ? 'dead letter' : mode} from here was not written (the handler outlasted stallTimeout without its heartbeat)`,
          );
      };
      return {
        envelope,
        attempt,
        stalls,
        ...(malformed === undefined ? {} : { malformed }),
        ack: () => run('ack', []),
        retry: (delay) => run('retry', [encode({ ...envelope, attempt: attempt + 1, stalls }), delay], true),
        deadLetter: (error, reason) =>
          run(
            'dead',
            [
              encode({ ...envelope, attempt, stalls }),
              0,
              error.slice(0, 4000),
              Date.now(),
              reason,
              ...deadLetterTrim,
            ],
            true,
          ),
        release: () => run('retry', [encode({ ...envelope, attempt, stalls }), 0]),
      };
    };

    const deliverEntries = async (entries: StreamEntry[], claimed: boolean, known?: number[]) => {
      let counts: number[] = known ?? [];
      if (claimed && known === undefined && entries.length > 0) {
        const pipeline = commands.pipeline();
        for (const [id] of entries) pipeline.xpending(keys.stream, GROUP, id, id, 1);
        const replies = (await pipeline.exec()) ?? [];
        counts = replies.map(([, r]) =>
          Number((r as [[string, string, number, number]] | undefined)?.[0]?.[3] ?? 1),
        );
      }
      entries.forEach(([id, fields], i) => {
        const { envelope, problem } = decodeEntry(fields, queue, id);
        opts.deliver(deliveryFor(id, envelope, counts[i] ?? 1, problem));
      });
    };

    /**
     * Entries in this consumer's pending list the worker never received. Redis moves entries there
     * as it answers an XREADGROUP (or an XAUTOCLAIM); when the connection drops before the answer
     * arrives, ioredis sends the command again (XREADGROUP with `>`: new entries only), and those
     * stayed pending under a live consumer, unseen, until a stall claim stallTimeout later, counted
     * as a stall of a job that never ran (`maxStalls: 0` dead-lettered it unrun). Delivered here
     * with their own delivery count: 1 for a lost read, so no stall. Returns whether any was.
     */
    const deliverUnseen = async (free: number): Promise<boolean> => {
      // Page by page: the list starts with the oldest entries, the jobs this worker is running.
      // Only its first 100 were read before, so with more than 100 running (concurrency above 100)
      // the unseen ones behind them were never found and came back as stalls.
      const unseen: [string, string, number, number][] = [];
      for (let start = '-'; ; ) {
        const page = (await commands.xpending(keys.stream, GROUP, start, '+', UNSEEN_PAGE, consumer)) as [
          string,
          string,
          number,
          number,
        ][];
        for (const entry of page) if (!owned.has(entry[0]) && unseen.length < free) unseen.push(entry);
        if (page.length < UNSEEN_PAGE || unseen.length >= free) break;
        start = `(${page[page.length - 1]![0]}`;
      }
      if (unseen.length === 0) return false;
      const pipeline = commands.pipeline();
      for (const [id] of unseen) pipeline.xrange(keys.stream, id, id);
      const bodies = ((await pipeline.exec()) ?? []).map(([, r]) => (r as StreamEntry[] | undefined)?.[0]);
      const entries: StreamEntry[] = [];
      const counts: number[] = [];
      const gone: string[] = [];
      unseen.forEach(([id, , , count], i) => {
        const entry = bodies[i];
        if (entry) {
          entries.push(entry);
          counts.push(Number(count));
        } else gone.push(id);
      });
      // Deleted while pending (XDEL, a trim): nothing left to run.
      if (gone.length > 0) await commands.xack(keys.stream, GROUP, ...gone);
      await deliverEntries(entries, true, counts);
      return entries.length > 0;
    };

    /**
     * One pull: entries stalled elsewhere first (every stallTimeout / 2), else new ones. XAUTOCLAIM
     * scans at most 10 × COUNT pending entries a call and returns where it stopped, so the scan
     * follows that cursor through the whole pending list (up to MAX_CLAIM_CALLS calls a round, then
     * on from there the next round). Always starting over at '0-0' never reached a stalled entry
     * behind 10 × free entries that live workers were still running.
     */
    const pull = async (free: number) => {
      // On the monotonic clock: on Date.now, a step back of the system clock held claim rounds off
      // for as long as the step, and jobs of a worker that died meanwhile stayed unrun.
      const claimRound = performance.now() - lastClaim >= opts.stallTimeout / 2;
      if (lookForUnseen || claimRound) {
        lookForUnseen = false;
        if (await deliverUnseen(free)) return;
      }
      if (claimRound) {
        lastClaim = performance.now();
        // Consumers of workers that died without closing, their entries claimed since: nothing else
        // removes them. Live ones read or extend their entries far more often than this.
        await pruneConsumers
          .run(commands, [keys.stream], [GROUP, PRUNE_AFTER_STALL_TIMEOUTS * opts.stallTimeout, ''])
          .catch((error) =>
            context.onError(
              new QueueError('QUEUE_BACKEND', `redis prune consumers ${queue}`, { cause: error }),
            ),
          );
        // Letters past their age leave even while none is written (the broker-side limits of
        // RabbitMQ and NATS do so on their own).
        await trimDeadLetters
          .run(commands, [keys.dlq], deadLetterTrim)
          .catch((error) =>
            context.onError(
              new QueueError('QUEUE_BACKEND', `redis trim dead letters ${queue}`, { cause: error }),
            ),
          );
        for (let call = 0; call < MAX_CLAIM_CALLS; call++) {
          const [next, claimed] = (await commands.xautoclaim(
            keys.stream,
            GROUP,
            consumer,
            opts.stallTimeout,
            claimCursor,
            'COUNT',
            free,
          )) as [string, StreamEntry[]];
          claimCursor = next;
          // Entries this worker is running itself, its heartbeat late (a blocked event loop): the
          // claim only refreshed them. Delivered again, the job ran twice at once in this worker.
          const mine = claimed.filter((e) => e !== null && owned.has(e[0])).map(([id]) => id);
          if (mine.length > 0) await uncountOwn.run(commands, [keys.stream], [GROUP, consumer, ...mine]);
          const live = claimed.filter((e) => e !== null && e[1] !== null && !owned.has(e[0]));
          if (live.length > 0) {
            await deliverEntries(live, true);
            return;
          }
          if (next === '0-0') break;
        }
      }
      const reply = (await blocking.xreadgroup(
        'GROUP',
        GROUP,
        consumer,
        'COUNT',
        free,
        'BLOCK',
        1000,
        'STREAMS',
        keys.stream,
        '>',
      )) as [string, StreamEntry[]][] | null;
      loop.succeeded();
      if (loop.stopped) {
        // Read after stop: hand them straight back rather than hold them until a stall claim.
        for (const [id, fields] of reply?.[0]?.[1] ?? []) {
          const { envelope, problem } = decodeEntry(fields, queue, id);
          // Not a job: the worker dead-letters it (a hand-back would write its stand-in as a job).
          if (problem !== undefined) opts.deliver(deliveryFor(id, envelope, 1, problem));
          else await deliveryFor(id, envelope, 1).release();
        }
        return;
      }
      if (reply?.[0]) await deliverEntries(reply[0][1], false);
    };
    const recover = async (error: unknown) => {
      if (error instanceof Error && error.message.startsWith('NOGROUP'))
        await ensureGroup(queue, true).catch(() => {});
    };

    const timers = [
      setInterval(() => {
        if (loop.stopped) return;
        promote
          .run(commands, [keys.delayed, keys.stream], [1000])
          .catch((error) =>
            context.onError(new QueueError('QUEUE_BACKEND', `redis promote ${queue}`, { cause: error })),
          );
      }, 100),
      setInterval(
        () => {
          // Reset the idle time of entries we are still working on so no one claims them as stalled.
          if (owned.size === 0) {
            if (loop.stopped) clearInterval(timers[1]);
            return;
          }
          // Only entries still ours: one another worker claimed is its job now (see HEARTBEAT).
          heartbeat
            .run(commands, [keys.stream], [GROUP, consumer, ...owned])
            .then((lost) => {
              for (const id of lost as string[]) owned.delete(id);
            })
            .catch((error) =>
              context.onError(new QueueError('QUEUE_BACKEND', `redis heartbeat ${queue}`, { cause: error })),
            );
        },
        Math.max(50, Math.floor(opts.stallTimeout / 3)),
      ),
    ];
    for (const t of timers) {
      t.unref();
      allTimers.add(t);
    }
    const done = loop.run(pull, recover);
    let stopping: Promise<void> | undefined;

    return {
      wake: () => loop.wake(),
      stop() {
        stopping ??= (async () => {
          loop.stop();
          const id = await blockingId;
          if (id !== undefined) await commands.client('UNBLOCK', id).catch(() => {});
          await done;
          // The heartbeat keeps running until the in-flight entries are settled.
          clearInterval(timers[0]);
          clients.delete(blocking);
          blocking.disconnect();
        })();
        return stopping;
      },
    };
  }
}

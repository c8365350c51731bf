import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as wait } from 'node:timers/promises';
import {
  type Channel,
  type ChannelModel,
  type ConfirmChannel,
  type ConsumeMessage,
  connect,
  type GetMessage,
  type Options,
} from 'amqplib';
import { backoffDelay } from '../backoff.js';
import { readDeadLetterBody, requeuable } from '../dead-letter.js';
import { readRabbitDepth } from '../depth.js';
import { decodeEnvelope } from '../envelope.js';
import { InvalidArgumentError, QueueError } from '../errors.js';
import { BROKER_GRACE, settledWithin } from '../grace.js';
import { rabbitDeadLetterArguments } from '../retention.js';
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
import { type LetterFate, letterTime, passDeadLetters } from './browse.js';
import { consumerLanes } from './lanes.js';
import { renewQuorumLease } from './lease.js';
import { jobProperties } from './properties.js';
import { quiesceChannel } from './quiet.js';
import { settleBarrier } from './settle.js';
import {
  DELAY_QUEUE_IDLE,
  type DelayQueueKind,
  delayBucket,
  delayQueue,
  delayQueueKind,
  delayQueuePrefix,
  delayQueueRedeclare,
  dueExchangeArguments,
  mainQueueArguments,
  type QueueType,
  rabbitNames,
} from './topology.js';
import { unparkJobs } from './unpark.js';

/** RabbitBackendOptions configures the RabbitMQ backend. */
export interface RabbitBackendOptions {
  /** AMQP URL or options. @defaultValue 'amqp://guest:guest@127.0.0.1:5672' */
  url?: string | Options.Connect;
  /** Prefix of every queue and exchange name. @defaultValue 'sp' */
  prefix?: string;
  /** Main and dead-letter queue type; `classic` adds priorities but is not replicated. @defaultValue 'quorum' */
  queueType?: QueueType;
  /**
   * ms a delay queue (one per rounded delay) is kept once no job was published into it: its
   * `x-expires` is the delay plus this, and publishers declare it again every half of this while
   * they use it. @defaultValue 60000
   */
  delayQueueIdle?: number;
}

const ERROR = 'x-sp-error';
const FAILED_AT = 'x-sp-failed-at';
const DEAD_ID = 'x-sp-dead-id';
const REASON = 'x-sp-reason';
/** Header carrying a per-publish token, so a `basic.return` is matched to the publish it undoes. */
const PUBLISH_TOKEN = 'x-sp-publish';

/**
 * Link is one connection pair: `publishing` carries publishes, declarations and everything but
 * consumers, which run on `consuming`. RabbitMQ blocks a connection that publishes while a memory
 * or disk alarm is on and stops reading it, acks included: shared, a worker that published once
 * (a retry, a follow-up job) could ack nothing until the alarm cleared, and consumers are what
 * clears it. The two go down and come back together.
 */
interface Link {
  publishing: ChannelModel;
  consuming: ChannelModel;
}

type Subscriber = (link: Link) => Promise<void>;

/** Unconfirmed: a publish went out but its confirm never came (nack or channel closed first). */
class Unconfirmed extends Error {
  constructor(cause: unknown) {
    super(`publish not confirmed: ${(cause as Error)?.message ?? String(cause)}`, { cause });
  }
}

/**
 * Refused: the broker answered the publish with a nack: it took no responsibility for the message
 * (a queue at its x-max-length with overflow reject-publish, a quorum queue without a majority).
 * Unlike a confirm lost with its channel, the message is known not to be stored.
 */
class Refused extends Unconfirmed {}

/**
 * NotEncodable: amqplib refused to encode the message (a property AMQP cannot carry, e.g. a
 * message-id over 255 bytes, which only a foreign dead letter's job can have: publish() checks
 * ids). Nothing was sent, and sending it again cannot help.
 */
class NotEncodable extends Error {
  constructor(cause: Error) {
    super(`cannot be sent over AMQP (${cause.message})`, { cause });
  }
}

/**
 * Unroutable: the broker returned a mandatory publish (`basic.return`, then the confirm): no queue
 * took it, because the queue it was sent to does not exist (deleted by `destroy` in another
 * process, by an operator, or expired). Without `mandatory` the broker confirms such a message and
 * drops it: the publisher reported success for a job stored nowhere.
 */
class Unroutable extends Error {
  constructor(
    readonly replyCode: number,
    readonly replyText: string,
  ) {
    super(`message returned unroutable (${replyCode} ${replyText})`);
  }
}

/** TooLarge: the message is over the broker's max_message_size (not stored; sending it again cannot help). */
class TooLarge extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`message of ${size} bytes over max_message_size ${limit}`);
  }
}

/**
 * sizeLimitOf reads the broker's max_message_size from the error it closed a channel with when a
 * publish was over it (406 PRECONDITION_FAILED, "message size N is larger than configured max size
 * M"): AMQP carries the limit only in that text.
 */
function sizeLimitOf(error: (Error & { code?: unknown }) | undefined): number | undefined {
  if (error?.code !== 406) return undefined;
  const limit = /larger than configured max size (\d+)/.exec(error.message)?.[1];
  return limit === undefined ? undefined : Number(limit);
}

/** Most ms `stop()` holds acks back waiting for the deliveries on their way (see quiesce). */
const IN_TRANSIT_WAIT = 1_000;
/** ms without a delivery after which none is taken to be on its way (see quiesce). */
const IN_TRANSIT_QUIET = 50;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * pause waits `ms`, or less when `signal` aborts first: a publish whose caller gave up (its publish
 * timeout) mid-backoff ends then, not when the pause would have (up to reconnect.max later).
 */
const pause = (ms: number, signal: AbortSignal) =>
  wait(ms, undefined, { signal }).catch((err: unknown) => {
    if (!signal.aborted) throw err;
  });

/**
 * abortRejection rejects `aborted` with `signal`'s reason once it aborts (at once if it has);
 * `dispose` removes the one listener it adds. Its rejection is handled even when nothing races it.
 */
function abortRejection(signal: AbortSignal): { aborted: Promise<never>; dispose: () => void } {
  let dispose = () => {};
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    dispose = () => signal.removeEventListener('abort', onAbort);
  });
  aborted.catch(() => {});
  return { aborted, dispose };
}

/** createRabbitBackend runs queues on RabbitMQ with confirms, quorum queues, TTL-queue delays and a DLX. */
export function createRabbitBackend(options: RabbitBackendOptions, context: BackendContext): QueueBackend {
  const prefix = options.prefix ?? 'sp';
  const queueType = options.queueType ?? 'quorum';
  const url = options.url ?? 'amqp://guest:guest@127.0.0.1:5672';
  const subscribers = new Set<Subscriber>();
  const delayQueueIdle = options.delayQueueIdle ?? DELAY_QUEUE_IDLE;
  if (!Number.isInteger(delayQueueIdle) || delayQueueIdle < 1000)
    throw new InvalidArgumentError('delayQueueIdle', 'must be an integer number of ms >= 1000');
  const asserted = new Set<string>();
  /** Dead-letter queues already reported as declared before retention (see assertDeadLetterQueue). */
  const unretained = new Set<string>();
  /** Delay queue name → when this process last declared it (ms), which renews its x-expires lease. */
  const delayDeclared = new Map<string, number>();
  /** The delay queues of the broker connected to (see delayQueueKind), learnt at each connect. */
  let delayKind: DelayQueueKind = 'classic';
  let closed = false;
  let model: ChannelModel | undefined;
  /** The consumer connection paired with `model`, opened once a worker consumes (see Link). */
  let consuming: ChannelModel | undefined;
  let consumingOpened: Promise<ChannelModel> | undefined;
  let publisher: ConfirmChannel | undefined;
  /** Returns seen on each publisher channel, by publish token, until that publish's confirm reads them. */
  const returnsOf = new WeakMap<ConfirmChannel, Map<string, Unroutable>>();
  /** The error the broker closed each publisher channel with, read by the confirms it failed. */
  const closeErrorOf = new WeakMap<ConfirmChannel, Error>();
  /**
   * Publisher channels in the middle of handling a `basic.nack`: amqplib reports a nack and a
   * confirm lost with the channel to the publish callback alike (an Error), so the nack is marked
   * around amqplib's own handler (prepended and appended listeners run synchronously with it).
   */
  const nacking = new WeakSet<ConfirmChannel>();
  /** The broker's max_message_size, learnt from its refusal of a larger publish. */
  let maxMessageSize: number | undefined;
  let publishSeq = 0;
  let connected: Promise<void>;
  let markConnected: () => void = () => {};
  let started = false;

  const resetConnected = () => {
    connected = new Promise<void>((resolve) => {
      markConnected = resolve;
    });
  };
  resetConnected();

  /** closeQuietly closes a connection whose pair went down, without waiting on the broker. */
  const closeQuietly = (c: ChannelModel) => {
    void settledWithin(c.close(), BROKER_GRACE);
  };

  /**
   * openConsuming opens the consumer connection paired with `m`. When it closes, `m` is closed too,
   * so the pair reconnects as one (its close handler does) and every consumer subscribes again.
   */
  const openConsuming = async (m: ChannelModel): Promise<ChannelModel> => {
    const cm = await connect(url, { clientProperties: { connection_name: 'scaleplane-queue-consumer' } });
    cm.on('error', (error: Error) =>
      context.onError(new QueueError('QUEUE_CONNECTION', `rabbitmq: ${error.message}`, { cause: error })),
    );
    cm.on('close', () => {
      if (consuming !== cm) return;
      consuming = undefined;
      if (model === m) closeQuietly(m);
    });
    return cm;
  };

  /** ensureConsuming resolves with the current pair, opening its consumer connection if needed. */
  const ensureConsuming = async (): Promise<Link> => {
    await ensureConnected();
    const m = model;
    if (!m) throw new QueueError('QUEUE_CONNECTION', 'rabbitmq: not connected');
    if (consuming) return { publishing: m, consuming };
    consumingOpened ??= openConsuming(m).finally(() => {
      consumingOpened = undefined;
    });
    const cm = await consumingOpened;
    if (closed || model !== m) {
      closeQuietly(cm);
      throw new QueueError(
        'QUEUE_CONNECTION',
        'rabbitmq: connection lost while opening the consumer connection',
      );
    }
    consuming ??= cm;
    if (consuming !== cm) closeQuietly(cm);
    return { publishing: m, consuming };
  };

  const connectLoop = async () => {
    for (let attempt = 1; !closed; attempt++) {
      let m: ChannelModel | undefined;
      try {
        const opened = await connect(url, { clientProperties: { connection_name: 'scaleplane-queue' } });
        m = opened;
        opened.on('error', (error: Error) =>
          context.onError(new QueueError('QUEUE_CONNECTION', `rabbitmq: ${error.message}`, { cause: error })),
        );
        opened.on('close', () => {
          if (model !== opened) return;
          model = undefined;
          publisher = undefined;
          // Its consumers go down with it: the reconnect subscribes them again on a new pair.
          const cm = consuming;
          consuming = undefined;
          if (cm) closeQuietly(cm);
          resetConnected();
          if (closed) return;
          context.onConnection({ state: 'disconnected' });
          void connectLoop();
        });
        const p = await openPublisher(opened);
        const cm = subscribers.size > 0 ? await openConsuming(opened) : undefined;
        const server = opened.connection.serverProperties;
        delayKind = delayQueueKind(server.product, server.version);
        model = opened;
        publisher = p;
        consuming = cm;
        if (cm)
          for (const subscribe of subscribers) {
            await subscribe({ publishing: opened, consuming: cm }).catch((error) =>
              context.onError(
                new QueueError('QUEUE_CONNECTION', 'rabbitmq: cannot resume consumer', { cause: error }),
              ),
            );
          }
        if (attempt > 1) context.onConnection({ state: 'connected' });
        markConnected();
        return;
      } catch (error) {
        if (m && model !== m) closeQuietly(m);
        const delay = backoffDelay(attempt, context.reconnect, context.random);
        context.onConnection({ state: 'reconnecting', attempt, delay, error: (error as Error).message });
        await sleep(delay);
      }
    }
  };
  /**
   * openPublisher opens the confirm channel every publish goes through. A channel error (a publish
   * over the broker's max_message_size: 406; to an exchange that is gone: 404) closes only that
   * channel, with the connection still up: no reconnect follows, so it is opened again here. Before,
   * `publisher` stayed the closed channel and every later publish of the process (jobs, retries,
   * hand-backs, dead letters) failed 'Channel closed' until its timeout.
   */
  const openPublisher = async (m: ChannelModel): Promise<ConfirmChannel> => {
    const p = await m.createConfirmChannel();
    p.on('error', (error: Error) => closeErrorOf.set(p, error));
    p.prependListener('nack', () => nacking.add(p));
    p.on('nack', () => nacking.delete(p));
    const returns = new Map<string, Unroutable>();
    returnsOf.set(p, returns);
    // A return comes before the confirm of the same message on the same channel, so the
    // confirm callback finds it here. The token, not the job id, tells the publishes apart: one
    // job id can be published more than once at a time (a retry, a caller re-using ids).
    p.on(
      'return',
      (msg: { fields: { replyCode: number; replyText: string }; properties: Options.Publish }) => {
        const token = msg.properties.headers?.[PUBLISH_TOKEN];
        if (token !== undefined)
          returns.set(String(token), new Unroutable(msg.fields.replyCode, msg.fields.replyText));
      },
    );
    p.on('close', () => {
      if (publisher !== p) return;
      publisher = undefined;
      if (!closed && model === m) void reopenPublisher(m);
    });
    return p;
  };
  /** reopenPublisher replaces a publisher channel the broker closed, until it works or `m` is gone. */
  const reopenPublisher = async (m: ChannelModel) => {
    for (let attempt = 1; !closed && model === m && publisher === undefined; attempt++) {
      try {
        const p = await openPublisher(m);
        if (closed || model !== m) {
          await p.close().catch(() => {});
          return;
        }
        publisher = p;
        return;
      } catch {
        // The connection is closing: its close handler reconnects and opens a publisher with it.
        await sleep(backoffDelay(attempt, context.reconnect, context.random));
      }
    }
  };
  const ensureConnected = async () => {
    if (!started) {
      started = true;
      void connectLoop();
    }
    await connected;
  };

  /** Runs `fn` on a short-lived channel: a failed assert closes only that channel. */
  const withChannel = async <T>(fn: (ch: Channel) => Promise<T>): Promise<T> => {
    await ensureConnected();
    const ch = await model!.createChannel();
    ch.on('error', () => {});
    try {
      return await fn(ch);
    } finally {
      await ch.close().catch(() => {});
    }
  };

  /**
   * Declares `queue`'s objects on `ch`, then moves back the jobs that fell due while it was
   * deleted (parked, see topology.ts): declaring is what a process starting now, a producer whose
   * publish was returned, or a worker whose consumer was cancelled does, so that is when they can
   * run again. The queue is bound to `due` before the parked ones are counted, so a job due later
   * goes straight in. A failed move is reported and leaves them parked for the next declaration.
   */
  const assertTopology = async (ch: Channel, queue: string, m: ChannelModel) => {
    const names = rabbitNames(prefix, queue);
    await ch.assertExchange(names.dlx, 'direct', { durable: true });
    await ch.assertExchange(names.parkedExchange, 'direct', { durable: true });
    await ch.assertExchange(names.due, 'direct', { durable: true, arguments: dueExchangeArguments(names) });
    await ch.assertQueue(names.queue, { durable: true, arguments: mainQueueArguments(names, queueType) });
    await ch.bindQueue(names.queue, names.due, names.queue);
    await assertDeadLetterQueue(names.dlq, m);
    await ch.bindQueue(names.dlq, names.dlx, names.queue);
    const parked = await ch.assertQueue(names.parked, {
      durable: true,
      arguments: { 'x-queue-type': queueType },
    });
    await ch.bindQueue(names.parked, names.parkedExchange, names.queue);
    if (parked.messageCount === 0) return;
    try {
      await unparkJobs(m, names, parked.messageCount);
    } catch (error) {
      context.onError(
        new QueueError('QUEUE_BACKEND', `rabbitmq: cannot move parked jobs back into ${names.queue}`, {
          cause: error,
        }),
      );
    }
  };
  /**
   * Declares the dead-letter queue with its retention (`x-max-length`, `x-message-ttl`). RabbitMQ
   * refuses to declare an existing queue again with other arguments (406, closing the channel):
   * a DLQ made before retention, or with another one, keeps what it has. That is reported once,
   * not failed: the queue works on, its DLQ unbounded until an operator sets a policy or drains
   * and deletes it. Run on a channel of its own, so the refusal closes only that one.
   */
  const assertDeadLetterQueue = async (dlq: string, m: ChannelModel) => {
    const ch = await m.createChannel();
    ch.on('error', () => {});
    try {
      await ch.assertQueue(dlq, {
        durable: true,
        arguments: { 'x-queue-type': queueType, ...rabbitDeadLetterArguments(context.deadLetterRetention) },
      });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 406) throw error;
      if (!unretained.has(dlq)) {
        unretained.add(dlq);
        context.onError(
          new QueueError(
            'QUEUE_BACKEND',
            `rabbitmq: dead-letter queue ${dlq} exists with other arguments, so deadLetterRetention is not applied to it (${(error as Error).message}); set a policy with max-length / message-ttl, or drain and delete it to have it declared with retention`,
            { cause: error },
          ),
        );
      }
    } finally {
      await ch.close().catch(() => {});
    }
  };
  const ensureTopology = async (queue: string) => {
    if (asserted.has(queue)) return;
    await withChannel((ch) => assertTopology(ch, queue, model!));
    asserted.add(queue);
  };
  const delayQueueOf = (queue: string, delay: number) =>
    delayQueue(rabbitNames(prefix, queue), delayBucket(delay), delayQueueIdle, delayKind);
  const ensureDelayQueue = async (queue: string, delay: number) => {
    // Connected first: the broker's version says which delay queues it gets.
    await ensureConnected();
    const spec = delayQueueOf(queue, delay);
    const quorum = spec.arguments['x-queue-type'] === 'quorum';
    // Declared once was not enough: the queue expired under a long-running producer (see
    // delayQueueRedeclare). The lease runs from the declaration, so it is timed from before it is sent.
    // On the monotonic clock, as RabbitMQ times x-expires: on Date.now, a step back of the system
    // clock after a declaration held the next one off for as long as the step, and the queue expired
    // with jobs in it meanwhile (every later publish into it dropped).
    const now = performance.now();
    if (delayQueueRedeclare(delayDeclared.get(spec.name), now, delayQueueIdle)) {
      await withChannel(async (ch) => {
        await ch.assertQueue(spec.name, { durable: true, arguments: spec.arguments });
        if (quorum) await renewQuorumLease(ch, spec.name);
      });
      delayDeclared.set(spec.name, now);
    }
    return spec.name;
  };

  /**
   * Publishes once through the confirm channel, `mandatory`; resolves on the broker's ack. Rejects
   * with `Unroutable` when the broker returned it (no queue took it; not stored), and with
   * `Unconfirmed` when the message went out but no confirm came back (it may be stored).
   */
  const publishOnce = (exchange: string, routingKey: string, body: Buffer, props: Options.Publish) =>
    new Promise<void>((resolve, reject) => {
      const p = publisher;
      if (!p) {
        reject(new QueueError('QUEUE_CONNECTION', 'rabbitmq: not connected'));
        return;
      }
      // Sent, it would close the publisher channel again, failing the publishes beside it.
      if (maxMessageSize !== undefined && body.length > maxMessageSize) {
        reject(new TooLarge(body.length, maxMessageSize));
        return;
      }
      const token = String(++publishSeq);
      const returns = returnsOf.get(p);
      const headers = { ...props.headers, [PUBLISH_TOKEN]: token };
      try {
        p.publish(
          exchange,
          routingKey,
          body,
          { persistent: true, ...props, headers, mandatory: true },
          (error: unknown) => {
            const returned = returns?.get(token);
            returns?.delete(token);
            const limit = error ? sizeLimitOf(closeErrorOf.get(p)) : undefined;
            if (limit !== undefined) maxMessageSize = limit;
            if (limit !== undefined && body.length > limit) reject(new TooLarge(body.length, limit));
            else if (error) reject(nacking.has(p) ? new Refused(error) : new Unconfirmed(error));
            else if (returned) reject(returned);
            else resolve();
          },
        );
      } catch (error) {
        // amqplib encodes the frame at once: a TypeError is a property it cannot encode (a closed
        // channel throws an IllegalOperationError, which a reconnect cures).
        reject(error instanceof TypeError ? new NotEncodable(error) : error);
      }
    });

  /**
   * Publishes until confirmed: across reconnects, with backoff, until `signal` gives up. `target`
   * names the queue the message is meant for; a message returned unroutable (that queue is gone)
   * is published once more after `redeclare` declared it again, as a producer starting now would
   * (a job stored in a re-created queue beats a job dropped), and a second return rejects with
   * QUEUE_PUBLISH_FAILED naming the queue. A message over the broker's max_message_size rejects
   * at once with QUEUE_INVALID_ARGUMENT naming `payload`. `moot` says, before each attempt, that
   * the message is no longer wanted (the delivery it settles went back to the broker while it
   * waited for a reconnect): it then rejects with QUEUE_ACK_FAILED, publishing nothing. With
   * `refusedFails`, a publish the broker nacked rejects at once with `Refused` (known not stored)
   * instead of being published again until `signal` gives up.
   */
  const publishConfirmed = async (
    exchange: string,
    routingKey: string,
    body: Buffer,
    props: Options.Publish,
    signal: AbortSignal,
    target: string,
    redeclare: () => Promise<void>,
    moot: () => boolean = () => false,
    refusedFails = false,
  ) => {
    let unconfirmed = 0;
    let redeclared = false;
    for (let n = 1; ; n++) {
      if (closed) throw new QueueError('QUEUE_CLOSED', 'rabbitmq backend closed');
      try {
        // Its listener goes as the race ends. Before, each attempt left one on the caller's signal:
        // a publish refused or cut off again and again piled them up (MaxListenersExceededWarning
        // past 10), and a confirmed one left its last behind.
        const { aborted, dispose } = abortRejection(signal);
        try {
          await Promise.race([ensureConnected(), aborted]);
        } finally {
          dispose();
        }
        if (moot())
          throw new QueueError(
            'QUEUE_ACK_FAILED',
            `rabbitmq: not published to ${target}: the delivery it settles went back to the broker (its channel closed)`,
          );
        await publishOnce(exchange, routingKey, body, props);
        return;
      } catch (error) {
        if (error instanceof QueueError && error.code === 'QUEUE_ACK_FAILED') throw error;
        if (error instanceof TooLarge)
          throw new InvalidArgumentError(
            'payload',
            `job ${String(props.messageId)} is ${error.size} bytes as sent, over the broker's max_message_size of ${error.limit} (not stored)`,
          );
        // Before, it was published again with backoff until `signal` gave up (30 s per letter).
        if (error instanceof NotEncodable)
          throw new QueueError('QUEUE_PUBLISH_FAILED', `rabbitmq: not sent to ${target}: ${error.message}`, {
            cause: error,
          });
        if (signal.aborted) throw error;
        if (refusedFails && error instanceof Refused) throw error;
        if (error instanceof Unroutable) {
          const what = `rabbitmq: queue ${target} does not exist (${error.message})`;
          if (redeclared)
            throw new QueueError('QUEUE_PUBLISH_FAILED', `${what}, again after declaring it`, {
              cause: error,
            });
          redeclared = true;
          try {
            await redeclare();
          } catch (cause) {
            throw new QueueError(
              'QUEUE_PUBLISH_FAILED',
              `${what}, and declaring it again failed: ${(cause as Error).message}`,
              { cause },
            );
          }
          continue;
        }
        // An unconfirmed publish may or may not have landed: publishing again is at-least-once.
        if (error instanceof Unconfirmed)
          context.onRepublish({
            id: String(props.messageId),
            attempt: ++unconfirmed + 1,
            error: error.message,
          });
        await pause(backoffDelay(n, context.reconnect, context.random), signal);
        if (signal.aborted) throw error;
      }
    }
  };

  /**
   * redeclareFor forgets that `queue`'s objects (and its delay queue for `delay`, if any) were
   * declared, and declares them again: after a return, the cached declaration was stale.
   */
  const redeclareFor =
    (queue: string, delay = 0) =>
    async () => {
      asserted.delete(queue);
      await ensureTopology(queue);
      if (delay > 0) {
        delayDeclared.delete(delayQueueOf(queue, delay).name);
        await ensureDelayQueue(queue, delay);
      }
    };

  /**
   * publishToWorkQueue puts JOB back on QUEUE's work queue, confirmed within `within` ms (a
   * dead-letter retry, a classic queue's counted stall). refusedFails: a broker's refusal (nack)
   * fails at once with Refused instead of being published again until the timeout.
   */
  const publishToWorkQueue = async (
    queue: string,
    job: JobEnvelope,
    refusedFails = false,
    within = 30_000,
  ) => {
    const target = rabbitNames(prefix, queue).queue;
    await publishConfirmed(
      '',
      target,
      Buffer.from(JSON.stringify(job)),
      jobProperties(job, queueType),
      AbortSignal.timeout(within),
      target,
      redeclareFor(queue),
      undefined,
      refusedFails,
    );
  };

  /**
   * deadLetterPass runs one pass over `queue`'s dead letters (see browse.ts): each is read and
   * kept without a requeue, so listing and skipping letters spend none of their delivery attempts.
   */
  const deadLetterPass = async (queue: string, visit: (msg: GetMessage) => Promise<LetterFate>) => {
    await ensureConnected();
    const m = model;
    if (!m) throw new QueueError('QUEUE_CONNECTION', 'rabbitmq: not connected');
    const dlq = rabbitNames(prefix, queue).dlq;
    const age = context.deadLetterRetention.age;
    await passDeadLetters(m, dlq, visit, {
      idHeader: DEAD_ID,
      writtenAtHeader: FAILED_AT,
      // Declared with retention, the DLQ expires letters by age: a copy gets what its letter had left.
      ...(Number.isFinite(age) && !unretained.has(dlq) ? { ttl: age } : {}),
    });
  };

  const publishEnvelope = async (envelope: JobEnvelope, delay: number, signal: AbortSignal) => {
    await ensureTopology(envelope.queue);
    const target =
      delay > 0 ? await ensureDelayQueue(envelope.queue, delay) : rabbitNames(prefix, envelope.queue).queue;
    await publishConfirmed(
      '',
      target,
      Buffer.from(JSON.stringify(envelope)),
      jobProperties(envelope, queueType),
      signal,
      target,
      redeclareFor(envelope.queue, delay),
    );
  };

  return {
    name: 'rabbitmq',

    publish: publishEnvelope,

    async consume(queue, opts) {
      await ensureTopology(queue);
      return startConsumer(queue, opts);
    },

    async depth(queue) {
      await ensureTopology(queue);
      return withChannel((ch) => readRabbitDepth(ch, queue, { prefix }));
    },

    async listDeadLetters(queue, limit) {
      await ensureTopology(queue);
      // Every letter goes round (see browse.ts), not only the first `limit`. Their place in the
      // queue is not their order once a pass was cut short or letters came during one (they land
      // among its copies), so they are sorted by when each was dead-lettered, ties in queue order.
      const now = Date.now();
      let seen: { at: number; n: number; letter: DeadLetter }[] = [];
      const byTime = (a: { at: number; n: number }, b: { at: number; n: number }) => a.at - b.at || a.n - b.n;
      let n = 0;
      await deadLetterPass(queue, async (msg) => {
        seen.push({
          at: letterTime(msg.properties.headers ?? {}, FAILED_AT, now),
          n: n++,
          letter: toDeadLetter(queue, msg),
        });
        // Only the first `limit` are kept in memory, not the whole queue.
        if (seen.length >= 2 * limit + 100) seen = seen.sort(byTime).slice(0, limit);
        return 'keep';
      });
      return seen
        .sort(byTime)
        .slice(0, limit)
        .map((s) => s.letter);
    },

    async retryDeadLetters(queue, refs) {
      await ensureTopology(queue);
      const names = rabbitNames(prefix, queue);
      const wanted = refs === undefined ? undefined : new Set(refs);
      // Each letter is acked only after the broker confirmed its job stored: a crash in between
      // leaves at most that one letter both queued and dead-lettered, never neither; it stays a
      // dead letter (nothing drops a letter whose job was queued again), so a later retry runs the
      // job once more, which at-least-once allows. A refused publish (nack) stored nothing: its
      // letter stays, the others go on, and retry reports it. Any other failure stops the
      // re-queueing; the letters not reached stay, in order, and the error says how many moved.
      let moved = 0;
      const refused: string[] = [];
      const unsendable: string[] = [];
      let why = '';
      try {
        await deadLetterPass(queue, async (msg) => {
          const letter = toDeadLetter(queue, msg);
          if ((wanted && !wanted.has(letter.ref)) || !requeuable(letter)) return 'keep';
          const job = { ...letter.job, attempt: 1, stalls: 0 };
          try {
            await publishToWorkQueue(queue, job, true);
          } catch (error) {
            // Refused (nothing stored) or never sendable: this letter stays, the others go on.
            const notEncodable = error instanceof QueueError && error.cause instanceof NotEncodable;
            if (!(error instanceof Refused) && !notEncodable) throw error;
            const what = `${JSON.stringify(letter.ref)} (job ${letter.job.id})`;
            if (notEncodable) unsendable.push(`${what}: ${(error.cause as Error).message}`);
            else {
              refused.push(what);
              why = error.message;
            }
            return 'keep';
          }
          moved++;
          return 'taken';
        });
      } catch (error) {
        const code = error instanceof QueueError ? error.code : 'QUEUE_PUBLISH_FAILED';
        throw new QueueError(
          code,
          `rabbitmq: retry of the dead letters of queue "${queue}" stopped (${(error as Error).message}); the letters not re-queued stay in the dead-letter queue; ${moved} moved`,
          { cause: error },
        );
      }
      const problems = [
        ...(refused.length > 0
          ? [
              `the broker refused to store ${refused.length} dead letter${refused.length === 1 ? '' : 's'} of queue "${queue}" in ${names.queue} (${why}; a queue at its x-max-length with overflow reject-publish refuses so): ${refused.join(', ')}`,
            ]
          : []),
        ...(unsendable.length > 0
          ? [
              `${unsendable.length} dead letter${unsendable.length === 1 ? '' : 's'} of queue "${queue}" cannot be re-queued: ${unsendable.join(', ')}`,
            ]
          : []),
      ];
      const left = refused.length + unsendable.length;
      if (left > 0)
        throw new QueueError(
          'QUEUE_PUBLISH_FAILED',
          `rabbitmq: ${problems.join('; ')}; ${left === 1 ? 'it stays' : 'they stay'} in the dead-letter queue; ${moved} moved`,
        );
      return moved;
    },

    async purgeDeadLetters(queue) {
      await ensureTopology(queue);
      const names = rabbitNames(prefix, queue);
      return (await withChannel((ch) => ch.purgeQueue(names.dlq))).messageCount;
    },

    async destroy(queue) {
      const names = rabbitNames(prefix, queue);
      const delayQueues = [...delayDeclared.keys()].filter((n) => n.startsWith(delayQueuePrefix(names)));
      await withChannel(async (ch) => {
        for (const name of [names.queue, names.dlq, names.parked, ...delayQueues]) {
          await ch.deleteQueue(name);
          delayDeclared.delete(name);
        }
      });
      asserted.delete(queue);
    },

    async close() {
      if (closed) return;
      closed = true;
      subscribers.clear();
      const links = [consuming, model].filter((c): c is ChannelModel => c !== undefined);
      model = undefined;
      consuming = undefined;
      // The close handshake waits for the broker: one that stopped answering would hold close()
      // until the heartbeat timeout (60 s by default), or for good without heartbeats.
      // Destroyed with an error, which amqplib handles as a lost connection (it stops its heartbeat
      // timers); a plain destroy left them running, and the process up, until the heartbeat timeout.
      await Promise.all(
        links.map(async (c) => {
          if (!(await settledWithin(c.close(), BROKER_GRACE)))
            (
              c as unknown as { connection: { stream: { destroy(error: Error): void } } }
            ).connection.stream.destroy(new Error(`rabbitmq: no answer to close within ${BROKER_GRACE} ms`));
        }),
      );
    },
  };

  function toDeadLetter(
    queue: string,
    msg: {
      content: Buffer;
      properties: { headers?: Record<string, unknown>; messageId?: unknown };
    },
  ): DeadLetter {
    const h = msg.properties.headers ?? {};
    const text = msg.content.toString();
    // A letter of ours carries its ref; a foreign one its message id, else a digest of its body,
    // so the same letter gets the same ref at every listing.
    const ref = String(
      h[DEAD_ID] ??
        msg.properties.messageId ??
        `raw-${createHash('sha256').update(msg.content).digest('hex').slice(0, 16)}`,
    );
    const { job, notJob } = readDeadLetterBody(text, queue, ref);
    return {
      ref: h[DEAD_ID] === undefined && notJob === undefined ? job.id : ref,
      job,
      ...(notJob === undefined ? {} : { notJob }),
      error: String(h[ERROR] ?? h['x-first-death-reason'] ?? ''),
      ...(h[REASON] ? { reason: String(h[REASON]) as DeadLetterReason } : {}),
      failedAt: Number(h[FAILED_AT] ?? 0),
    };
  }

  async function startConsumer(queue: string, opts: ConsumeOptions): Promise<Consumption> {
    const names = rabbitNames(prefix, queue);
    /** The consumer of each lane (see consumerLanes): its channel and consumer tag. */
    const current = new Map<number, { ch: Channel; tag: string }>();
    const lanes = consumerLanes(opts.concurrency);
    /** The prefetch each consumer channel was given: its lane's share of the concurrency. */
    const prefetchOf = new WeakMap<Channel, number>();
    let stopped = false;
    // Re-stating the prefetch is a round trip the channel answers itself, with no side effect.
    const barriers = new WeakMap<Channel, () => Promise<void>>();
    const barrierOf = (ch: Channel) => {
      let barrier = barriers.get(ch);
      if (!barrier) {
        barrier = settleBarrier(() => ch.prefetch(prefetchOf.get(ch) ?? 1));
        barriers.set(ch, barrier);
      }
      return barrier;
    };
    /** Deliveries received on each channel and not acked yet: the broker's view of its window. */
    const unacked = new WeakMap<Channel, number>();
    /** Set while stop() keeps acks back (see quiesce); acks wait for it. */
    let acksHeld: Promise<void> | undefined;
    /** Called on every delivery to its channel, so quiesce learns at once that one came. */
    const onDelivery = new Map<Channel, () => void>();
    /** Deliveries being taken (a stopped consumer's are handed back there); stop() waits for them. */
    const receiving = new Set<Promise<void>>();
    /** Acks `msg` and resolves once the broker applied the ack (see settleBarrier). */
    const ackConfirmed = async (ch: Channel, msg: ConsumeMessage, id: string) => {
      if (acksHeld) await acksHeld;
      try {
        unacked.set(ch, (unacked.get(ch) ?? 1) - 1);
        ch.ack(msg);
        await barrierOf(ch)();
      } catch (error) {
        throw new QueueError(
          'QUEUE_ACK_FAILED',
          `rabbitmq: ack of job ${id} not confirmed (${(error as Error).message}); the broker redelivers it unless the ack arrived`,
          { cause: error },
        );
      }
    };

    /**
     * A quorum queue counts a message's returns in `x-delivery-count`. Hand-backs, like retries,
     * publish a new message instead of a requeue (which RabbitMQ 3.x counts too), so every return
     * counted is a channel that closed with the job unsettled: a stall. The stalls of earlier
     * messages of the job travel in the envelope.
     */
    /** Consumer channels that closed: their unsettled deliveries are the broker's again. */
    const closedChannels = new WeakSet<Channel>();
    /** Who wants to know when each channel closes under its deliveries (see Delivery.onAbandoned). */
    const abandonListeners = new WeakMap<Channel, Set<() => void>>();
    /**
     * giveBack returns a delivery whose settle could not be stored to the queue (a requeue, which
     * the broker counts as a stall), unless its channel closed: then the broker has it back already.
     */
    const giveBack = (ch: Channel, msg: ConsumeMessage) => {
      if (closedChannels.has(ch)) return;
      unacked.set(ch, (unacked.get(ch) ?? 1) - 1);
      try {
        ch.nack(msg, false, true);
      } catch {
        // The channel closed meanwhile: the broker has the job back already.
      }
    };
    const channelClosed = (ch: Channel) => {
      closedChannels.add(ch);
      const listeners = abandonListeners.get(ch);
      abandonListeners.delete(ch);
      for (const listener of listeners ?? []) listener();
    };
    const deliveryFor = (
      ch: Channel,
      msg: ConsumeMessage,
      envelope: JobEnvelope,
      malformed?: string,
    ): Delivery => {
      const redeliveries = Number(
        msg.properties.headers?.['x-delivery-count'] ?? (msg.fields.redelivered ? 1 : 0),
      );
      const attempt = envelope.attempt + redeliveries;
      const stalls = (envelope.stalls ?? 0) + redeliveries;
      const republish = async (
        exchange: string,
        routingKey: string,
        job: JobEnvelope,
        target: string,
        delay: number,
        headers?: object,
      ) => {
        // Its channel closed (a lost connection): the broker has taken the job back and delivers it
        // again, so a copy published now would run beside that delivery. Before, a retry, dead
        // letter or hand-back sent after a reconnect stored the job a second time.
        if (closedChannels.has(ch))
          throw new QueueError(
            'QUEUE_ACK_FAILED',
            `rabbitmq: job ${envelope.id} not settled: its channel closed, so the broker delivers it again`,
          );
        try {
          await publishConfirmed(
            exchange,
            routingKey,
            Buffer.from(JSON.stringify(job)),
            jobProperties(job, queueType, headers),
            AbortSignal.timeout(context.publishTimeout),
            target,
            redeclareFor(queue, delay),
            () => closedChannels.has(ch),
          );
        } catch (error) {
          // Not taken within publishTimeout (refused, a memory alarm, unreachable): the delivery is
          // given back, so the broker delivers it again (counted as a stall). Before, it stayed
          // unacked on its live channel until that closed (consumer_timeout: 30 min), holding its
          // prefetch slot: a worker with concurrency 1 got no job again.
          giveBack(ch, msg);
          throw error;
        }
        await ackConfirmed(ch, msg, envelope.id);
      };
      return {
        envelope,
        attempt,
        stalls,
        ...(malformed === undefined ? {} : { malformed }),
        abandoned: () => closedChannels.has(ch),
        onAbandoned: (listener) => {
          if (closedChannels.has(ch)) {
            listener();
            return () => {};
          }
          let listeners = abandonListeners.get(ch);
          if (!listeners) {
            listeners = new Set();
            abandonListeners.set(ch, listeners);
          }
          listeners.add(listener);
          return () => abandonListeners.get(ch)?.delete(listener);
        },
        ack: () => ackConfirmed(ch, msg, envelope.id),
        retry: async (delay) => {
          const next = { ...envelope, attempt: attempt + 1, stalls };
          const target = delay > 0 ? await ensureDelayQueue(queue, delay) : names.queue;
          await republish('', target, next, target, delay);
        },
        deadLetter: (error, reason) =>
          republish(names.dlx, names.queue, { ...envelope, attempt, stalls }, names.dlq, 0, {
            [ERROR]: error.slice(0, 4000),
            [REASON]: reason,
            [FAILED_AT]: Date.now(),
            [DEAD_ID]: randomUUID(),
          }),
        release: async () => {
          // Its channel closed: the broker has the job back already (a stall), nothing to hand back.
          if (closedChannels.has(ch)) return;
          await republish('', names.queue, { ...envelope, attempt, stalls }, names.queue, 0);
        },
      };
    };

    /**
     * A classic queue only flags a redelivery, without counting: a flagged message is published
     * again with one more stall in its envelope (and acked), so the next crash is counted too. Once
     * over the limit it is delivered as it is, for the worker to dead-letter.
     */
    const countClassicStall = async (ch: Channel, msg: ConsumeMessage, envelope: JobEnvelope) => {
      const stalls = (envelope.stalls ?? 0) + 1;
      if (queueType !== 'classic' || !msg.fields.redelivered || stalls > opts.maxStalls) return false;
      const job = { ...envelope, attempt: envelope.attempt + 1, stalls };
      try {
        await publishToWorkQueue(queue, job, false, context.publishTimeout);
      } catch (error) {
        // Not stored within publishTimeout: given back, to be counted on its next delivery. Before,
        // it stayed unacked on its live channel, holding its prefetch slot (see republish).
        giveBack(ch, msg);
        throw error;
      }
      await ackConfirmed(ch, msg, envelope.id);
      return true;
    };

    const receive = async (ch: Channel, msg: ConsumeMessage) => {
      const { envelope, problem } = decodeEnvelope(
        msg.content.toString(),
        queue,
        msg.properties.messageId ? String(msg.properties.messageId) : `amqp-${randomUUID()}`,
      );
      if (problem === undefined && (await countClassicStall(ch, msg, envelope))) return;
      const delivery = deliveryFor(ch, msg, envelope, problem);
      if (!stopped || problem !== undefined) {
        opts.deliver(delivery);
        return;
      }
      await delivery.release();
    };

    const consumeOn = async (ch: Channel, lane: number) => {
      const { consumerTag } = await ch.consume(
        names.queue,
        (msg) => {
          if (msg === null) {
            // The broker cancelled us (queue restarting or deleted) while the connection stayed up.
            if (!stopped) void resume(ch, lane);
            return;
          }
          unacked.set(ch, (unacked.get(ch) ?? 0) + 1);
          onDelivery.get(ch)?.();
          const taking = receive(ch, msg)
            .catch((error) =>
              context.onError(
                new QueueError('QUEUE_BACKEND', `rabbitmq consumer ${queue}: cannot take a delivery`, {
                  cause: error,
                }),
              ),
            )
            .finally(() => receiving.delete(taking));
          receiving.add(taking);
        },
        { noAck: false },
      );
      current.set(lane, { ch, tag: consumerTag });
    };
    // One attempt after a short backoff: a failed consume closes the channel, and from then on the
    // connection's close/reconnect path (with its own backoff) takes over.
    const resume = async (ch: Channel, lane: number) => {
      if (stopped || closed || current.get(lane)?.ch !== ch) return;
      const delay = backoffDelay(1, context.reconnect, context.random);
      context.onConnection({
        state: 'reconnecting',
        attempt: 1,
        delay,
        error: `consumer of ${queue} cancelled`,
      });
      await sleep(delay);
      if (stopped || closed || current.get(lane)?.ch !== ch) return;
      try {
        await consumeOn(ch, lane);
        context.onConnection({ state: 'connected' });
      } catch (error) {
        context.onError(
          new QueueError('QUEUE_CONNECTION', `rabbitmq: cannot resume ${queue}`, { cause: error }),
        );
      }
    };

    const subscribeLane = async (link: Link, lane: number) => {
      const ch = await link.consuming.createChannel();
      ch.on('error', (error: Error) =>
        context.onError(
          new QueueError('QUEUE_BACKEND', `rabbitmq consumer ${queue}: ${error.message}`, { cause: error }),
        ),
      );
      ch.on('close', () => {
        channelClosed(ch);
        // A channel closed under a live connection (not by a reconnect) is reopened here.
        if (!stopped && !closed && current.get(lane)?.ch === ch && consuming === link.consuming)
          void subscribeLane(link, lane).catch(() => {});
      });
      if (lane === 0) await assertTopology(ch, queue, link.publishing);
      prefetchOf.set(ch, lanes[lane]!);
      await ch.prefetch(lanes[lane]!);
      await consumeOn(ch, lane);
    };
    const subscribe: Subscriber = async (link) => {
      for (let lane = 0; lane < lanes.length; lane++) await subscribeLane(link, lane);
    };

    subscribers.add(subscribe);
    try {
      const link = await ensureConsuming();
      if (current.size === 0) await subscribe(link);
    } catch (error) {
      // The worker calls consume() again: left registered, this one would consume beside it.
      if (current.size === 0) subscribers.delete(subscribe);
      throw error;
    }
    /**
     * quiesce waits, with acks held back, until no delivery can be on its way to `ch`: its prefetch
     * window is full (the broker sends nothing more), or none came for IN_TRANSIT_QUIET ms after a
     * round trip proved the channel applied the acks sent before (the queue ran dry); at most
     * IN_TRANSIT_WAIT ms. A quorum queue's consumer is cancelled through its Raft log: a delivery
     * the queue sent before it applied the cancel reaches the channel after the consumer is gone,
     * and RabbitMQ 3.x returns it to the queue with `x-delivery-count` raised, unseen by the client.
     * The next worker counted it as a stall (attempt 2): 2-33 of 300 jobs per close with
     * concurrency 50 (measured with the queue left open), so a job met by two scale-ins was
     * dead-lettered unrun (maxStalls 1).
     */
    const quiesce = (ch: Channel) =>
      quiesceChannel(
        {
          barrier: barrierOf(ch),
          windowFull: () => (unacked.get(ch) ?? 0) >= (prefetchOf.get(ch) ?? 1),
          listen: (delivered) => {
            onDelivery.set(ch, delivered);
            return () => onDelivery.delete(ch);
          },
        },
        IN_TRANSIT_WAIT,
        IN_TRANSIT_QUIET,
      );
    return {
      wake: () => {},
      async stop() {
        if (stopped) return;
        stopped = true;
        subscribers.delete(subscribe);
        let releaseAcks = () => {};
        acksHeld = new Promise<void>((resolve) => {
          releaseAcks = resolve;
        });
        try {
          await Promise.all(
            [...current.values()].map(async ({ ch, tag }) => {
              if (closedChannels.has(ch)) return;
              await quiesce(ch);
              // Cancel only: the channel stays open so running handlers can still ack.
              await ch.cancel(tag).catch(() => {});
            }),
          );
        } finally {
          acksHeld = undefined;
          releaseAcks();
        }
        // The deliveries that came meanwhile go back before the connection may close under them.
        await Promise.allSettled([...receiving]);
      },
    };
  }
}

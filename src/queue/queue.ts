import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
// batched.ts itself, not the metrics module's index (see worker.ts).
import { type BatchedCounter, batchedCounter } from '../metrics/batched.js';
import {
  type BackoffOptions,
  backoffProblem,
  DEFAULT_RECONNECT_BACKOFF,
  withBackoffDefaults,
} from './backoff.js';
import { InvalidArgumentError, QueueClosedError, QueueError } from './errors.js';
import { type QueueLogger, silentLogger, timestamp } from './log.js';
import { type QueueMetrics, queueMetrics } from './metrics.js';
import { createNatsBackend, type NatsBackendOptions } from './nats/backend.js';
import { createRabbitBackend, type RabbitBackendOptions } from './rabbitmq/backend.js';
import { createRedisBackend, type RedisBackendOptions } from './redis/backend.js';
import { DEFAULT_DEAD_LETTER_RETENTION, type DeadLetterRetention, retentionProblem } from './retention.js';
import type {
  BackendContext,
  BackendName,
  DeadLetter,
  DepthReading,
  JobEnvelope,
  QueueBackend,
} from './types.js';
import { type JobHandler, Worker, type WorkerOptions } from './worker.js';

interface CommonQueueOptions {
  /** Registry for the queue's Prometheus series. @defaultValue a private registry */
  registry?: Registry;
  /** @defaultValue silent */
  logger?: QueueLogger;
  /** Broker reconnect schedule. @defaultValue DEFAULT_RECONNECT_BACKOFF (100ms doubling to 10s, half jittered) */
  reconnect?: Partial<BackoffOptions>;
  /**
   * Publishes not yet confirmed by the broker (for example while it is unreachable); one more is
   * rejected with `QUEUE_BUFFER_FULL`. @defaultValue 10000
   */
  maxPendingPublishes?: number;
  /** ms a publish may wait for the broker's confirmation before it is rejected. @defaultValue 30000 */
  publishTimeout?: number;
  /** Randomness for jitter; tests pin it. @defaultValue Math.random */
  random?: () => number;
  /**
   * Dead letters kept per queue, the oldest dropped first: at most `count`, none older than `age`
   * ms (`Infinity` lifts either bound). Applied by the broker on RabbitMQ (`x-max-length`,
   * `x-message-ttl`) and NATS (MaxMsgs, MaxAge), by the queue on Redis (see README).
   * @defaultValue DEFAULT_DEAD_LETTER_RETENTION (unbounded: every letter kept)
   */
  deadLetterRetention?: Partial<DeadLetterRetention>;
}

/** QueueOptions picks a backend and its connection, plus what all backends share. */
export type QueueOptions = CommonQueueOptions &
  (
    | ({ backend: 'rabbitmq' } & RabbitBackendOptions)
    | ({ backend: 'redis' } & RedisBackendOptions)
    | ({ backend: 'nats' } & NatsBackendOptions)
  );

/** PublishOptions shapes one job. */
export interface PublishOptions {
  /**
   * Job identity for idempotency; NATS de-duplicates on it. A non-empty string of at most 255 bytes
   * (UTF-8) without CR or LF, valid on every broker. @defaultValue a random UUID
   */
  id?: string;
  /** ms before the job may run. @defaultValue 0 */
  delay?: number;
  /**
   * Hint, higher first. Honoured by RabbitMQ classic queues (`queueType: 'classic'`); quorum
   * queues before RabbitMQ 4, Redis Streams and JetStream keep publish order.
   */
  priority?: number;
}

/**
 * Queue is a producer and a worker factory over one broker. Events: `error` (QueueError),
 * `connection` (ConnectionEvent) and `republish` (RepublishEvent: a publish re-sent after its
 * confirm was lost, so the job may be stored twice); all are also logged with timestamps.
 */
export class Queue extends EventEmitter {
  readonly backend: BackendName;
  readonly metrics: QueueMetrics;
  readonly registry: Registry;
  #impl: QueueBackend;
  #log: QueueLogger;
  #random: () => number;
  #pending = 0;
  #maxPending: number;
  #publishTimeout: number;
  #workers = new Set<Worker<never>>();
  #closing: Promise<void> | undefined;
  /** Each queue name's batched `published` series (see worker.ts). */
  #published = new Map<string, BatchedCounter>();

  constructor(options: QueueOptions) {
    super();
    this.backend = options.backend;
    this.registry = options.registry ?? new Registry();
    this.metrics = queueMetrics(this.registry);
    this.#log = options.logger ?? silentLogger;
    this.#random = options.random ?? Math.random;
    this.#maxPending = options.maxPendingPublishes ?? 10_000;
    this.#publishTimeout = options.publishTimeout ?? 30_000;
    if (!Number.isInteger(this.#maxPending) || this.#maxPending < 1)
      throw new InvalidArgumentError('maxPendingPublishes', 'must be an integer >= 1');
    // Checked here, not at the first publish, where a bad value would surface as a timer's RangeError.
    if (!Number.isInteger(this.#publishTimeout) || this.#publishTimeout < 1)
      throw new InvalidArgumentError('publishTimeout', 'must be an integer number of ms >= 1');
    const reconnect = withBackoffDefaults(DEFAULT_RECONNECT_BACKOFF, options.reconnect);
    const problem = backoffProblem(reconnect);
    if (problem) throw new InvalidArgumentError('reconnect', problem);
    const deadLetterRetention = { ...DEFAULT_DEAD_LETTER_RETENTION, ...options.deadLetterRetention };
    const retentionIssue = retentionProblem(deadLetterRetention);
    if (retentionIssue) throw new InvalidArgumentError('deadLetterRetention', retentionIssue);
    const context: BackendContext = {
      reconnect,
      deadLetterRetention,
      random: this.#random,
      publishTimeout: this.#publishTimeout,
      onError: (error) =>
        this.#report(
          error instanceof QueueError
            ? error
            : new QueueError('QUEUE_BACKEND', error.message, { cause: error }),
        ),
      onConnection: (event) => {
        const full = { ...event, backend: this.backend, at: timestamp() };
        const level = event.state === 'connected' ? 'info' : 'warn';
        this.#log[level](full, `queue ${this.backend} ${event.state}`);
        this.emit('connection', full);
      },
      onRepublish: (event) => {
        const full = { ...event, backend: this.backend, at: timestamp() };
        this.#log.warn(full, `queue ${this.backend} re-sent unconfirmed publish of job ${event.id}`);
        this.emit('republish', full);
      },
    };
    this.#impl = createBackend(options, context);
  }

  #report(error: QueueError): void {
    this.#log.error({ at: timestamp(), backend: this.backend, code: error.code, err: error }, error.message);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  /**
   * publish stores a job and resolves with its id once the broker confirmed it. Rejects with
   * `QUEUE_BUFFER_FULL` when too many publishes await confirmation, `QUEUE_PUBLISH_TIMEOUT` when the
   * broker stayed unreachable (the job may still arrive: at-least-once, never at-most-zero silently).
   */
  async publish(queue: string, payload: unknown, options: PublishOptions = {}): Promise<{ id: string }> {
    if (this.#closing) throw new QueueClosedError('queue');
    validateName(queue);
    const delay = options.delay ?? 0;
    if (!(delay >= 0) || !Number.isFinite(delay))
      throw new InvalidArgumentError('delay', 'must be a finite number >= 0');
    if (options.id !== undefined) validateJobId(options.id);
    if (options.priority !== undefined) validatePriority(options.priority);
    if (this.#pending >= this.#maxPending) {
      const error = new QueueError('QUEUE_BUFFER_FULL', `${this.#pending} publishes await confirmation`);
      this.#report(error);
      throw error;
    }
    const envelope: JobEnvelope = {
      id: options.id ?? randomUUID(),
      queue,
      payload,
      attempt: 1,
      publishedAt: Date.now(),
      ...(options.priority === undefined ? {} : { priority: options.priority }),
    };
    this.#pending++;
    const signal = AbortSignal.timeout(this.#publishTimeout);
    const stored = this.#impl.publish(envelope, Math.round(delay), signal);
    // Counted until the backend lets go of it, after a timeout too: one still waiting for its broker
    // holds the job (the Redis client's offline queue, a first connection), so the bound stays true.
    stored.then(
      () => this.#pending--,
      () => this.#pending--,
    );
    // Raced here, not left to each backend: a backend waiting to connect (or, on Redis, for any
    // reply) never looked at the signal, and publish() stayed pending for as long as its broker was
    // unreachable, past publishTimeout.
    let onAbort = () => {};
    const timedOut = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await Promise.race([stored, timedOut]);
    } catch (error) {
      const failure = signal.aborted
        ? new QueueError(
            'QUEUE_PUBLISH_TIMEOUT',
            `job ${envelope.id} not confirmed within ${this.#publishTimeout}ms`,
            {
              cause: error,
            },
          )
        : error instanceof QueueError
          ? error
          : (payloadProblem(payload) ??
            new QueueError('QUEUE_PUBLISH_FAILED', `job ${envelope.id} not stored`, { cause: error }));
      this.#report(failure);
      throw failure;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    let published = this.#published.get(queue);
    if (published === undefined) {
      published = batchedCounter(this.metrics.published, { queue, backend: this.backend });
      this.#published.set(queue, published);
    }
    published.inc();
    return { id: envelope.id };
  }

  /** pendingPublishes is how many publishes await the broker's confirmation. */
  get pendingPublishes(): number {
    return this.#pending;
  }

  /** worker starts consuming `queue` with `handler`; see `Worker` for events and `close()`. */
  worker<T = unknown>(queue: string, handler: JobHandler<T>, options: WorkerOptions = {}): Worker<T> {
    if (this.#closing) throw new QueueClosedError('queue');
    validateName(queue);
    const worker = new Worker<T>(queue, handler, options, {
      backend: this.#impl,
      metrics: this.metrics,
      log: this.#log,
      random: this.#random,
    });
    this.#workers.add(worker as Worker<never>);
    return worker;
  }

  /** depth reads the queue's backlog now (see `DepthReading`); QUEUE_CONNECTION past publishTimeout. */
  depth(queue: string): Promise<DepthReading> {
    return this.#answered(`depth of queue "${queue}"`, this.#impl.depth(queue));
  }

  /**
   * dlq is the dead-letter queue of `queue`: list, retry (requeue as first attempts; a letter that is
   * not a job, `DeadLetter.notJob`, stays where it is, and naming one in `refs` fails
   * QUEUE_INVALID_ARGUMENT before anything moves), purge. Each
   * fails QUEUE_CONNECTION when the broker does not answer within publishTimeout (a retry: before
   * it starts; once under way it runs to its end, each letter's publish, or on Redis each batch,
   * bounded on its own).
   */
  dlq(queue: string): {
    list(limit?: number): Promise<DeadLetter[]>;
    retry(refs?: readonly string[]): Promise<number>;
    purge(): Promise<number>;
  } {
    validateName(queue);
    const what = (call: string) => `dlq(${JSON.stringify(queue)}).${call}()`;
    return {
      list: async (limit = 100) => {
        validateLimit(limit);
        return this.#answered(what('list'), this.#impl.listDeadLetters(queue, limit));
      },
      retry: async (refs) => {
        if (refs !== undefined) validateRefs(refs);
        // One look before anything moves, bounded by publishTimeout: with refs, the listing that
        // refuses letters that are not jobs; without, the backlog read, which says the broker
        // answers. Before, a list(1) came first, and then with refs a listing of every letter: on
        // RabbitMQ each one takes every letter round the dead-letter queue (see rabbitmq/browse.ts).
        await this.#answered(
          what('retry'),
          refs === undefined ? this.#impl.depth(queue).then(() => {}) : this.#refuseNotJobs(queue, refs),
        );
        return this.#impl.retryDeadLetters(queue, refs);
      },
      purge: () => this.#answered(what('purge'), this.#impl.purgeDeadLetters(queue)),
    };
  }

  /**
   * refuseNotJobs fails a retry naming a dead letter whose body is not a job (`DeadLetter.notJob`),
   * before anything is re-queued: there is no job to run, and queued it would only be dead-lettered
   * again as `Malformed`. A retry of every letter leaves such letters where they are.
   */
  async #refuseNotJobs(queue: string, refs: readonly string[]): Promise<void> {
    const named = new Set(refs);
    const letters = await this.#impl.listDeadLetters(queue, Number.MAX_SAFE_INTEGER);
    const foreign = letters.filter((l) => named.has(l.ref) && l.notJob !== undefined);
    if (foreign.length === 0) return;
    throw new InvalidArgumentError(
      'refs',
      `dead letter${foreign.length === 1 ? '' : 's'} ${foreign.map((l) => JSON.stringify(l.ref)).join(', ')} of queue "${queue}" ${foreign.length === 1 ? 'is' : 'are'} not a Scaleplane job (${foreign[0]!.notJob}), so there is nothing to retry; purge() removes ${foreign.length === 1 ? 'it' : 'them'}. Nothing was re-queued`,
    );
  }

  /** destroy deletes every broker object of `queue`, jobs and dead letters included. */
  destroy(queue: string): Promise<void> {
    return this.#answered(`destroy of queue "${queue}"`, this.#impl.destroy(queue));
  }

  /**
   * answered bounds a call that waits on the broker by publishTimeout: with the broker unreachable,
   * depth(), the dead-letter calls and destroy() stayed pending for as long as it was (a backend
   * waits to connect), and so did whatever awaited them. The call itself goes on in the background.
   */
  async #answered<T>(what: string, call: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new QueueError(
              'QUEUE_CONNECTION',
              `${what}: no answer from the broker within ${this.#publishTimeout} ms (publishTimeout); is it reachable?`,
            ),
          ),
        this.#publishTimeout,
      );
    });
    call.catch(() => {});
    try {
      return await Promise.race([call, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** close closes every worker (see `Worker.close`), then the connections. Idempotent; never rejects. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all([...this.#workers].map((w) => w.close()));
      await this.#impl
        .close()
        .catch((error) => this.#report(new QueueError('QUEUE_BACKEND', 'close failed', { cause: error })));
    })();
    return this.#closing;
  }
}

function validateName(queue: string): void {
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(queue))
    throw new InvalidArgumentError('queue', 'use 1-100 letters, digits, "_" or "-" (valid on every broker)');
}

/**
 * validateJobId rejects a job id some broker cannot carry, before anything is sent. Before, an
 * empty (or non-string) id was stored and confirmed, then dead-lettered unrun as a malformed
 * message by every worker; an id over 255 bytes (RabbitMQ's message-id is an AMQP short string) or
 * a non-string one was re-sent until `publishTimeout` and reported as QUEUE_PUBLISH_TIMEOUT ("may
 * still arrive"); one with CR or LF (NATS carries it as the Nats-Msg-Id header) was refused naming
 * `payload`.
 */
function validateJobId(id: unknown): void {
  if (typeof id !== 'string' || id === '') throw new InvalidArgumentError('id', 'must be a non-empty string');
  const bytes = Buffer.byteLength(id, 'utf8');
  if (bytes > MAX_JOB_ID_BYTES)
    throw new InvalidArgumentError(
      'id',
      `is ${bytes} bytes in UTF-8; at most ${MAX_JOB_ID_BYTES} (RabbitMQ's message-id limit)`,
    );
  if (/[\r\n]/.test(id))
    throw new InvalidArgumentError('id', 'must not contain CR or LF (a NATS header value)');
}

/**
 * validateLimit rejects a dead-letter listing size that is not a whole number >= 1 (Infinity lists
 * all). Before, 1.5 listed 2 letters on RabbitMQ and NATS and failed with Redis's own `value is not
 * an integer` on Redis; 0, -1 and NaN listed none on any backend, as if the queue were empty.
 */
function validateLimit(limit: unknown): void {
  if (limit !== Number.POSITIVE_INFINITY && (!Number.isInteger(limit) || (limit as number) < 1))
    throw new InvalidArgumentError('limit', 'must be an integer >= 1 (or Infinity for all)');
}

/**
 * validateRefs rejects `dlq.retry(refs)` that is not an array of dead-letter refs. Before, a single
 * ref passed as a string was taken as its characters: on NATS, whose refs are sequence numbers,
 * `retry('12')` re-queued letters 1 and 2 (a substring match), on Redis and RabbitMQ nothing.
 */
function validateRefs(refs: unknown): void {
  if (!Array.isArray(refs) || refs.some((ref) => typeof ref !== 'string'))
    throw new InvalidArgumentError('refs', 'must be an array of dead-letter refs (strings) from list()');
}

/** MAX_JOB_ID_BYTES is the longest job id, in UTF-8 bytes: an AMQP short string. */
const MAX_JOB_ID_BYTES = 255;

/**
 * validatePriority rejects a priority outside AMQP's octet: on RabbitMQ classic queues one was
 * re-sent until `publishTimeout` (amqplib cannot encode it) and reported as QUEUE_PUBLISH_TIMEOUT.
 */
function validatePriority(priority: unknown): void {
  if (!Number.isInteger(priority) || (priority as number) < 0 || (priority as number) > 255)
    throw new InvalidArgumentError('priority', 'must be an integer from 0 to 255');
}

function createBackend(options: QueueOptions, context: BackendContext): QueueBackend {
  switch (options.backend) {
    case 'rabbitmq':
      return createRabbitBackend(options, context);
    case 'redis':
      return createRedisBackend(options, context);
    case 'nats':
      return createNatsBackend(options, context);
    default:
      throw new QueueError(
        'QUEUE_UNKNOWN_BACKEND',
        `unknown backend "${(options as { backend: string }).backend}"`,
      );
  }
}

/** createQueue connects to the chosen broker lazily and returns the queue (see `Queue`). */
export function createQueue(options: QueueOptions): Queue {
  return new Queue(options);
}

/**
 * payloadProblem names the payload as what failed a publish when JSON cannot carry it (a BigInt, a
 * cycle): the backends serialize it, and their TypeError said only `job … not stored`. Checked only
 * once a publish failed, so a good payload is serialized once.
 */
function payloadProblem(payload: unknown): InvalidArgumentError | undefined {
  try {
    JSON.stringify(payload);
    return undefined;
  } catch (error) {
    return new InvalidArgumentError('payload', `must be JSON-serializable: ${(error as Error).message}`);
  }
}

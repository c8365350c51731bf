import type { BackoffOptions } from './backoff.js';
import type { DeadLetterRetention } from './retention.js';

/** BackendName is one of the brokers a queue can run on. */
export type BackendName = 'rabbitmq' | 'redis' | 'nats';

/**
 * JobEnvelope is what travels through the broker: the payload plus what every backend needs to
 * keep a job's identity and attempt count across retries and crashes.
 */
export interface JobEnvelope {
  id: string;
  queue: string;
  payload: unknown;
  /** 1-based number of the attempt this copy will be, counting retries (not crash redeliveries). */
  attempt: number;
  /** ms since the epoch when first published. */
  publishedAt: number;
  priority?: number;
  /**
   * Deliveries of this job that ended with its worker gone (crash, kill, lost connection) before
   * this copy was made; carried across retries so the stall limit counts per job. Absent = 0.
   */
  stalls?: number;
}

/**
 * DeadLetterReason is why a job was dead-lettered (`decideRetry`'s and `decideStall`'s reasons, or
 * `Malformed`: the message was not a job, see `Delivery.malformed`).
 */
export type DeadLetterReason = 'RetriesExhausted' | 'NotRetryable' | 'StallLimit' | 'Malformed';

/** DeadLetter is a job that failed its last attempt, with the error that ended it. */
export interface DeadLetter {
  /** Backend-specific handle for `retry`/`purge` of this one entry. */
  ref: string;
  /** The job; when `notJob` is set, a stand-in (id `ref`, attempt 1) whose payload is the raw body. */
  job: JobEnvelope;
  /**
   * Set when the letter's body is not a Scaleplane job (not JSON, or JSON that is not a job
   * envelope: another producer wrote to the dead-letter queue, or the broker dead-lettered a
   * foreign message): says why, e.g. `not JSON (Unexpected token ...)`. `retry()` leaves such a
   * letter where it is (naming it in `refs` is refused); `purge()` removes it.
   */
  notJob?: string;
  error: string;
  /** Why; absent for dead letters written before reasons were stored, or by the broker itself. */
  reason?: DeadLetterReason;
  /** ms since the epoch. */
  failedAt: number;
}

/** DepthReading is one sample of a queue's backlog, the input of depth-based scaling. */
export interface DepthReading {
  /** Jobs waiting to be delivered: due ones, delayed jobs that fell due included, on every backend. */
  depth: number;
  /** Jobs delivered to a worker and not yet acked; undefined where the broker does not say (RabbitMQ over AMQP). */
  pending?: number;
  /** Jobs scheduled for later and not due yet (delayed publishes, retries waiting out their backoff), if known. */
  delayed?: number;
  /** Cumulative count of jobs added, if the broker exposes it; feeds `depthRate`. */
  added?: number;
  /** Arrival rate in jobs/s since the previous reading, when both readings have `added`. */
  rate?: number;
  /**
   * When read, on the decision clock (src/clock.ts: ms since the epoch as of the process's start,
   * then monotonic), so a step of the system clock skews no `rate`.
   */
  at: number;
}

/**
 * Delivery is one received copy of a job, handed from a backend to the worker. Exactly one of
 * ack/retry/deadLetter/release settles it.
 */
export interface Delivery {
  readonly envelope: JobEnvelope;
  /** 1-based attempt number, crash redeliveries included. */
  readonly attempt: number;
  /**
   * Times this job's worker died with it before this delivery (see `WorkerOptions.maxStalls`):
   * counted exactly on Redis and RabbitMQ; on NATS the deliveries beyond `maxAttempts`, a lower bound.
   */
  readonly stalls: number;
  /**
   * Set when the message is not a job this library wrote (not JSON, or not an envelope): says why.
   * `envelope` is then a stand-in holding the message as payload; the worker dead-letters it unrun.
   */
  readonly malformed?: string;
  /** Done: remove the job for good. Resolves once the broker confirmed the ack. */
  ack(): Promise<void>;
  /** Failed, try again after `delay` ms as attempt `attempt + 1`. */
  retry(delay: number): Promise<void>;
  /** Failed for the last time: move to the dead-letter queue with `error` and `reason`. */
  deadLetter(error: string, reason: DeadLetterReason): Promise<void>;
  /** Not processed (shutdown): give the job back as it was, for another worker. */
  release(): Promise<void>;
  /**
   * True once the broker has taken the delivery back on its own (RabbitMQ: its channel closed):
   * a handler started then would run a job that is already on its way to another delivery.
   */
  abandoned?(): boolean;
  /**
   * Calls `listener` once the broker takes the delivery back on its own while it is in flight
   * (RabbitMQ: its channel closed, e.g. by the broker's `consumer_timeout`), at once if it already
   * has; returns the call that removes the listener.
   */
  onAbandoned?(listener: () => void): () => void;
}

/** ConsumeOptions tells a backend how much to take and where to hand it. */
export interface ConsumeOptions {
  concurrency: number;
  /** retries + 1: the attempts the worker makes before dead-lettering. */
  maxAttempts: number;
  /** Stalls a job may survive (`WorkerOptions.maxStalls`); NATS sizes MaxDeliver with it. */
  maxStalls: number;
  /** ms a delivery may stay unacked before another worker may take it (Redis, NATS). */
  stallTimeout: number;
  /** Free handler slots right now; backends that pull never take more than this. */
  freeSlots(): number;
  deliver(delivery: Delivery): void;
}

/** Consumption is a running subscription. */
export interface Consumption {
  /** Called when a handler slot frees up, so pulling backends fetch again at once. */
  wake(): void;
  /** Stop taking new deliveries; in-flight ones stay settle-able. Idempotent. */
  stop(): Promise<void>;
}

/** ConnectionEvent reports a broker connection going down, retrying or coming back. */
export interface ConnectionEvent {
  backend: BackendName;
  state: 'connected' | 'disconnected' | 'reconnecting';
  /** Reconnect attempt number, when reconnecting. */
  attempt?: number;
  /** ms until the next attempt, when reconnecting. */
  delay?: number;
  error?: string;
  /** ISO timestamp. */
  at: string;
}

/**
 * RepublishEvent reports a publish sent again after an attempt the broker never confirmed (the
 * connection dropped first): the broker may now hold the job twice, with the same id.
 */
export interface RepublishEvent {
  backend: BackendName;
  /** Job id. */
  id: string;
  /** 2 for the first re-send. */
  attempt: number;
  /** Why the previous attempt went unconfirmed. */
  error: string;
  /** ISO timestamp. */
  at: string;
}

/** BackendContext is what the queue gives every backend: where to report and how to reconnect. */
export interface BackendContext {
  reconnect: BackoffOptions;
  /** How many dead letters, and for how long, each queue's dead-letter queue keeps. */
  deadLetterRetention: DeadLetterRetention;
  random: () => number;
  /**
   * How long (ms) one broker call inside a longer operation (a batch of a dead-letter retry, a
   * RabbitMQ worker's retry or dead letter) may go unanswered before it gives up: the queue's
   * `publishTimeout`.
   */
  publishTimeout: number;
  onError(error: Error): void;
  onConnection(event: Omit<ConnectionEvent, 'backend' | 'at'>): void;
  onRepublish(event: Omit<RepublishEvent, 'backend' | 'at'>): void;
}

/**
 * QueueBackend is the whole extension point: one implementation per broker folder, all run by
 * the same conformance suite.
 */
export interface QueueBackend {
  readonly name: BackendName;
  /** Resolves once the broker confirmed the job is stored; retries across reconnects until `signal`. */
  publish(envelope: JobEnvelope, delay: number, signal: AbortSignal): Promise<void>;
  consume(queue: string, options: ConsumeOptions): Promise<Consumption>;
  depth(queue: string): Promise<DepthReading>;
  listDeadLetters(queue: string, limit: number): Promise<DeadLetter[]>;
  /** Requeue dead letters (all, or those named) as fresh first attempts; returns how many. */
  retryDeadLetters(queue: string, refs?: readonly string[]): Promise<number>;
  /** Drop dead letters; returns how many. */
  purgeDeadLetters(queue: string): Promise<number>;
  /** Delete everything the backend created for `queue` (tests, teardown). */
  destroy(queue: string): Promise<void>;
  close(): Promise<void>;
}

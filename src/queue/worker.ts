import { EventEmitter } from 'node:events';
// batched.ts itself, not the metrics module's index: that one loads every metric source (AWS,
// Kubernetes and NATS clients among them) into a program that only wanted `scaleplane/queue`.
import {
  type BatchedCounter,
  type BatchedGauge,
  type BatchedHistogram,
  batchedCounter,
  batchedGauge,
  batchedHistogram,
} from '../metrics/batched.js';
import { STOP_TIMEOUT_ENV } from '../stop-timeout.js';
import {
  type BackoffOptions,
  backoffProblem,
  DEFAULT_RETRY_BACKOFF,
  decideRetry,
  withBackoffDefaults,
} from './backoff.js';
import type { DedupStore } from './dedup.js';
import { errorMessage, InvalidArgumentError, QueueError } from './errors.js';
import { BROKER_GRACE, settledWithin } from './grace.js';
import { type QueueLogger, timestamp } from './log.js';
import type { QueueMetrics } from './metrics.js';
import { decideStall } from './stalls.js';
import type { Consumption, Delivery, QueueBackend } from './types.js';

/** JobContext is what a handler learns about the job besides its payload. */
export interface JobContext {
  id: string;
  queue: string;
  /** 1-based; > 1 means a retry or a redelivery after a crash. */
  attempt: number;
  publishedAt: number;
  /** Aborted when `close()` gives up waiting for this handler; the job goes back to the queue. */
  signal: AbortSignal;
}

/** JobHandler does the work; throw to fail the attempt (an `UnrecoverableError` skips the retries). */
export type JobHandler<T = unknown> = (payload: T, job: JobContext) => Promise<unknown> | unknown;

/** UnrecoverableError fails a job at once: straight to the dead-letter queue, no retries. */
export class UnrecoverableError extends QueueError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('QUEUE_HANDLER_FAILED', message, options);
    this.name = 'UnrecoverableError';
  }
}

/** WorkerOptions configures one worker. */
export interface WorkerOptions {
  /** Handlers running at once (RabbitMQ prefetch, pull batch size elsewhere). @defaultValue 1 */
  concurrency?: number;
  /** Retries after the first attempt before a job is dead-lettered. @defaultValue 3 */
  retries?: number;
  /**
   * Delay schedule between attempts; a `max` not given is at least the `initial` given.
   * @defaultValue DEFAULT_RETRY_BACKOFF (1s doubling to 60s, half jittered)
   */
  backoff?: Partial<BackoffOptions>;
  /**
   * ms a job may stay unacked before another worker takes it over (Redis XAUTOCLAIM idle time,
   * NATS AckWait, which the queue's workers share: the one started last sets it); live handlers keep
   * extending it. @defaultValue 30000
   */
  stallTimeout?: number;
  /**
   * Times a job may stall (its worker died while running it: a crash, an OOM kill, a lost broker
   * connection) and still run again; the delivery after one stall more dead-letters it unrun, with
   * reason `StallLimit`, so a job that kills its worker cannot crash-loop the group. On NATS, which
   * cannot tell a stall from a retry, a job is dead-lettered at delivery
   * `retries + maxStalls + 2`. @defaultValue 1 (BullMQ's `maxStalledCount`)
   */
  maxStalls?: number;
  /**
   * ms `close()` waits for running handlers before returning their jobs to the queue. @defaultValue
   * 30000, or in an instance of a local group, its `stop_timeout` less a fifth (at most 2 s) for
   * returning them (see defaultCloseTimeout)
   */
  closeTimeout?: number;
  /** Skip jobs already done, and mark jobs done after the handler succeeds. @defaultValue none */
  dedup?: DedupStore;
}

/** ResolvedWorkerOptions is WorkerOptions with every default applied and checked. */
export type ResolvedWorkerOptions = Required<Omit<WorkerOptions, 'dedup' | 'backoff'>> & {
  backoff: BackoffOptions;
  dedup?: DedupStore;
};

/** resolveWorkerOptions merges the defaults in one place and rejects bad values eagerly. */
export function resolveWorkerOptions(options: WorkerOptions): ResolvedWorkerOptions {
  const resolved: ResolvedWorkerOptions = {
    concurrency: options.concurrency ?? 1,
    retries: options.retries ?? 3,
    backoff: withBackoffDefaults(DEFAULT_RETRY_BACKOFF, options.backoff),
    stallTimeout: options.stallTimeout ?? 30_000,
    maxStalls: options.maxStalls ?? 1,
    closeTimeout: options.closeTimeout ?? defaultCloseTimeout(process.env),
    dedup: options.dedup,
  };
  const positiveInt = (field: string, value: number, min: number) => {
    if (!Number.isInteger(value) || value < min)
      throw new InvalidArgumentError(field, `must be an integer >= ${min}`);
  };
  positiveInt('concurrency', resolved.concurrency, 1);
  positiveInt('retries', resolved.retries, 0);
  positiveInt('stallTimeout', resolved.stallTimeout, 100);
  positiveInt('maxStalls', resolved.maxStalls, 0);
  positiveInt('closeTimeout', resolved.closeTimeout, 0);
  const problem = backoffProblem(resolved.backoff);
  if (problem) throw new InvalidArgumentError('backoff', problem);
  return resolved;
}

/**
 * defaultCloseTimeout is how long `close()` waits for running handlers when the caller does not
 * say: 30 s, unless the process is an instance that Scaleplane stops (STOP_TIMEOUT_ENV): then its
 * stop timeout less a fifth of it (at most 2 s), kept to hand the jobs back. Before, a worker group on
 * the defaults (`stop_timeout` 10 s, closeTimeout 30 s) had every job running longer than 10 s at
 * a scale-in SIGKILLed with its worker: back only after `stallTimeout`, each counted a stall (two
 * such scale-ins dead-letter it unrun, `maxStalls` 1).
 */
export function defaultCloseTimeout(env: NodeJS.ProcessEnv): number {
  const raw = env[STOP_TIMEOUT_ENV];
  const stop = raw === undefined || raw === '' ? Number.NaN : Number(raw);
  if (!Number.isInteger(stop) || stop < 0) return 30_000;
  return stop - Math.min(2_000, Math.round(stop / 5));
}

/** JobEvent is the argument of a worker's job events. */
export interface JobEvent {
  id: string;
  queue: string;
  attempt: number;
}

interface WorkerDeps {
  backend: QueueBackend;
  metrics: QueueMetrics;
  log: QueueLogger;
  random: () => number;
}

/**
 * Worker runs a handler over the jobs of one queue. Events: `completed` (after the broker confirmed the ack),
 * `skipped` (dedup), `retrying`, `dead-lettered`, `failed` (each handler failure), `abandoned` (the
 * broker took the job back, RabbitMQ, and delivers it again: before its handler started, or while it
 * ran, whose `signal` was then aborted), `error` (QueueError from the background; also logged).
 */
export class Worker<T = unknown> extends EventEmitter {
  readonly queue: string;
  readonly options: ResolvedWorkerOptions;
  /** Resolves once the worker is subscribed; never rejects (failures go to `error` and are retried). */
  readonly ready: Promise<void>;
  #deps: WorkerDeps;
  #handler: JobHandler<T>;
  #consumption: Consumption | undefined;
  #inFlight = new Map<Delivery, AbortController>();
  /** In-flight deliveries whose settle (ack, retry, dead letter) has been sent: no longer ours to hand back. */
  #settling = new Set<Delivery>();
  #closing: Promise<void> | undefined;
  /** Hand-backs of deliveries that reached the worker while it was closing; close() waits for them. */
  #handBacks = new Set<Promise<void>>();
  #idle: (() => void) | undefined;
  /**
   * The series every job moves, batched (src/metrics/batched.ts): prom-client's own children hash
   * their labels on every call, five calls a job. The sums reach prom-client when it is read.
   */
  #series: {
    inFlight: BatchedGauge;
    duration: BatchedHistogram;
    completed: BatchedCounter;
    failed: BatchedCounter;
    retried: BatchedCounter;
    deadLettered: BatchedCounter;
  };

  constructor(queue: string, handler: JobHandler<T>, options: WorkerOptions, deps: WorkerDeps) {
    super();
    this.queue = queue;
    this.options = resolveWorkerOptions(options);
    this.#deps = deps;
    this.#handler = handler;
    const labels = { queue, backend: deps.backend.name };
    const { metrics } = deps;
    this.#series = {
      inFlight: batchedGauge(metrics.inFlight, labels),
      duration: batchedHistogram(metrics.handlerDuration, labels),
      completed: batchedCounter(metrics.completed, labels),
      failed: batchedCounter(metrics.failed, labels),
      retried: batchedCounter(metrics.retried, labels),
      deadLettered: batchedCounter(metrics.deadLettered, labels),
    };
    this.ready = this.#start();
  }

  /** inFlight is the number of handlers running now. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  async #start(): Promise<void> {
    const { backend } = this.#deps;
    for (let attempt = 1; !this.#closing; attempt++) {
      try {
        const consumption = await backend.consume(this.queue, {
          concurrency: this.options.concurrency,
          maxAttempts: this.options.retries + 1,
          maxStalls: this.options.maxStalls,
          stallTimeout: this.options.stallTimeout,
          freeSlots: () => (this.#closing ? 0 : this.options.concurrency - this.#inFlight.size),
          deliver: (delivery) => this.#run(delivery),
        });
        if (this.#closing) await consumption.stop();
        else this.#consumption = consumption;
        return;
      } catch (error) {
        this.#report(
          new QueueError('QUEUE_CONNECTION', `cannot subscribe to ${this.queue}: ${errorMessage(error)}`, {
            cause: error,
          }),
        );
        await new Promise((r) => setTimeout(r, Math.min(10_000, 100 * 2 ** Math.min(attempt, 7))));
      }
    }
  }

  #report(error: QueueError): void {
    this.#deps.log.error({ at: timestamp(), queue: this.queue, code: error.code, err: error }, error.message);
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  #run(delivery: Delivery): void {
    // A malformed message is dead-lettered even while closing: a hand-back would publish its
    // stand-in as a job.
    if (this.#closing && delivery.malformed === undefined) {
      const handBack = delivery
        .release()
        .catch((error) =>
          this.#report(
            new QueueError('QUEUE_BACKEND', `cannot return job ${delivery.envelope.id}`, { cause: error }),
          ),
        )
        .finally(() => this.#handBacks.delete(handBack));
      this.#handBacks.add(handBack);
      return;
    }
    const controller = new AbortController();
    // The broker took the job back while it runs (RabbitMQ: its channel closed, as the broker's
    // consumer_timeout does to a job running past it) and delivers it again, here or elsewhere: the
    // handler is told through its signal, so it can stop instead of running beside the new copy,
    // and its outcome is not settled (its ack could only fail).
    const offAbandoned = delivery.onAbandoned?.(() =>
      controller.abort(
        new QueueError(
          'QUEUE_ACK_FAILED',
          `job ${delivery.envelope.id}: the broker took it back while it ran (its channel closed) and delivers it again`,
        ),
      ),
    );
    this.#inFlight.set(delivery, controller);
    this.#series.inFlight.inc();
    this.#process(delivery, controller.signal)
      .catch((error) =>
        this.#report(new QueueError('QUEUE_ACK_FAILED', 'cannot settle job', { cause: error })),
      )
      .finally(() => {
        offAbandoned?.();
        this.#inFlight.delete(delivery);
        this.#settling.delete(delivery);
        this.#series.inFlight.dec();
        if (this.#inFlight.size === 0) this.#idle?.();
        this.#consumption?.wake();
      });
  }

  async #process(delivery: Delivery, signal: AbortSignal): Promise<void> {
    const { envelope, attempt } = delivery;
    const event: JobEvent = { id: envelope.id, queue: this.queue, attempt };
    // Not a job (another producer's message, a corrupted body): no handler can run it, and left
    // unsettled it would hold its slot or come back for ever. The dead letter keeps it as payload.
    if (delivery.malformed !== undefined) {
      const error = `malformed message: ${delivery.malformed}`;
      this.#settling.add(delivery);
      await delivery.deadLetter(error, 'Malformed');
      this.#series.deadLettered.inc();
      this.emit('dead-lettered', { ...event, reason: 'Malformed', error });
      return;
    }
    const { dedup } = this.options;
    // A store that cannot answer fails the attempt (retried, then dead-lettered with its error).
    // Thrown from here, it had left the job unsettled while the backend kept its lease alive: in
    // flight for as long as the worker lived, holding a slot.
    let dedupFailure: QueueError | undefined;
    const done = dedup
      ? await dedup.isDone(envelope.id, this.queue).catch((error) => {
          dedupFailure = new QueueError(
            'QUEUE_BACKEND',
            `dedup store: cannot tell whether job ${envelope.id} is done: ${errorMessage(error)}`,
            { cause: error },
          );
          return false;
        })
      : false;
    // close() handed the job back while the dedup store was asked: it is another worker's now.
    if (signal.aborted) return;
    if (done) {
      this.#settling.add(delivery);
      await delivery.ack();
      this.emit('skipped', event);
      return;
    }
    const { random } = this.#deps;
    const series = this.#series;
    // Its worker died with it too often: running it again would likely kill this one as well.
    const stall = decideStall(delivery.stalls, this.options.maxStalls, attempt);
    if (stall.action === 'dead-letter') {
      this.#settling.add(delivery);
      await delivery.deadLetter(stall.message, stall.reason);
      series.deadLettered.inc();
      this.emit('dead-lettered', {
        ...event,
        stalls: delivery.stalls,
        reason: stall.reason,
        error: stall.message,
      });
      return;
    }
    // Its channel closed before it started (a broker restart, a reconnect): the broker returns the
    // job to the queue itself, so running it here would only run it twice. Checked in the same tick
    // as the handler starts, so a connection lost later finds it in flight, as it is.
    if (delivery.abandoned?.()) {
      this.emit('abandoned', event);
      return;
    }
    let failure: unknown = dedupFailure;
    let failed = dedupFailure !== undefined;
    if (!failed) {
      const started = performance.now();
      try {
        await this.#handler(envelope.payload as T, {
          id: envelope.id,
          queue: this.queue,
          attempt,
          publishedAt: envelope.publishedAt,
          signal,
        });
      } catch (error) {
        failed = true;
        failure = error;
      } finally {
        series.duration.observe((performance.now() - started) / 1000);
      }
    }
    // close() already gave this job back, or the broker took it back (onAbandoned): settling it
    // again would duplicate or lose it.
    if (signal.aborted) {
      if (delivery.abandoned?.()) this.emit('abandoned', event);
      return;
    }
    if (!failed) {
      this.#settling.add(delivery);
      // The work is done either way: a mark that failed only leaves a redelivery unguarded.
      await dedup
        ?.markDone(envelope.id, this.queue)
        .catch((error) =>
          this.#report(
            new QueueError(
              'QUEUE_BACKEND',
              `dedup store: job ${envelope.id} not marked done (acked all the same; a redelivery would run it again)`,
              { cause: error },
            ),
          ),
        );
      await delivery.ack();
      series.completed.inc();
      this.emit('completed', event);
      return;
    }
    series.failed.inc();
    const message = errorMessage(failure);
    // A listener that throws must not keep the job from its settle below: thrown from here, it left
    // the job unsettled while the backend kept its lease alive (in flight for good). Reported after.
    let listenerError: unknown;
    try {
      this.emit('failed', event, failure);
    } catch (error) {
      listenerError = error;
    }
    const decision = decideRetry(
      attempt,
      this.options.retries,
      this.options.backoff,
      random,
      !(failure instanceof UnrecoverableError),
    );
    this.#settling.add(delivery);
    if (decision.action === 'retry') {
      await delivery.retry(decision.delay);
      series.retried.inc();
      this.emit('retrying', { ...event, delay: decision.delay, error: message });
    } else {
      await delivery.deadLetter(message, decision.reason);
      series.deadLettered.inc();
      this.emit('dead-lettered', { ...event, reason: decision.reason, error: message });
    }
    if (listenerError !== undefined)
      this.#report(
        new QueueError('QUEUE_HANDLER_FAILED', `a 'failed' listener threw: ${errorMessage(listenerError)}`, {
          cause: listenerError,
        }),
      );
  }

  /**
   * close stops taking jobs, waits up to `closeTimeout` for running handlers to finish and settle,
   * then returns the jobs whose handlers still run (or have not started) to the queue; a job whose
   * ack, retry or dead letter is already on its way is left to it. Idempotent; never rejects.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // A broker that does not answer (down, partitioned) is waited for only so long, at each step:
    // before, close() never returned while it was unreachable (never subscribed, a stop or a
    // hand-back waiting on it), and a worker stopped on scale-in stayed up until its SIGKILL. A
    // subscription made later is stopped by #start; a job not handed back comes back as a stall.
    if (!(await settledWithin(this.ready, BROKER_GRACE)))
      this.#report(
        new QueueError('QUEUE_CONNECTION', `not subscribed to ${this.queue} ${BROKER_GRACE} ms into close()`),
      );
    const stopping = this.#consumption
      ?.stop()
      .catch((error) => this.#report(new QueueError('QUEUE_BACKEND', 'stop failed', { cause: error })));
    if (stopping && !(await settledWithin(stopping, BROKER_GRACE)))
      this.#report(
        new QueueError('QUEUE_BACKEND', `stop of ${this.queue} not done ${BROKER_GRACE} ms into it`),
      );
    if (this.#inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => {
          this.#idle = resolve;
        }),
        new Promise<void>((resolve) => {
          timer = setTimeout(resolve, this.options.closeTimeout);
        }),
      ]);
      clearTimeout(timer);
    }
    // A job whose settle is on its way is left to it: handed back as well, the broker got its ack
    // (or retry) and a new copy of it, a second run of a completed job.
    const leftovers = [...this.#inFlight].filter(([delivery]) => !this.#settling.has(delivery));
    // Those that reached it while closing too: the queue's close() next would cut them off, and
    // the broker give the job back as a stall (or, its copy stored, run it twice).
    const handedBack = Promise.all([
      ...this.#handBacks,
      ...leftovers.map(async ([delivery, controller]) => {
        controller.abort(new QueueError('QUEUE_CLOSED', 'worker closed before the handler finished'));
        await delivery
          .release()
          .catch((error) =>
            this.#report(
              new QueueError('QUEUE_BACKEND', `cannot return job ${delivery.envelope.id}`, { cause: error }),
            ),
          );
      }),
    ]);
    if (!(await settledWithin(handedBack, BROKER_GRACE)))
      this.#report(
        new QueueError('QUEUE_BACKEND', `jobs of ${this.queue} not handed back ${BROKER_GRACE} ms into it`),
      );
  }
}

import type { makeNodeTransport, NodeClient, SeverityLevel } from '@sentry/node';
import { AlertError, AlertSinkError } from './errors.js';
import { isRetryable, retryDelay } from './http.js';
import type { Alert, AlertSink } from './types.js';

/** SentrySinkOptions configures the Sentry sink. */
export interface SentrySinkOptions {
  /** Sentry DSN, normally read from the environment variable named by `dsnEnv`. */
  dsn: string;
  /** @defaultValue 'production' */
  environment?: string;
  /** Also send an `info` event when an alert resolves. @defaultValue true */
  sendResolved?: boolean;
  /** Longest wait for Sentry to take an event, per attempt. @defaultValue 5000 (ms) */
  timeoutMs?: number;
  /** Attempts after the first (network error, timeout, 429, 5xx). @defaultValue 3 */
  retries?: number;
  /** First retry delay; doubled each time, with ±20 % jitter. @defaultValue 500 (ms) */
  backoffMs?: number;
  /** Longest retry delay. @defaultValue 10000 (ms) */
  maxBackoffMs?: number;
  /** Injectable for tests. @defaultValue setTimeout-based sleep */
  sleep?: (ms: number) => Promise<void>;
}

type Transport = ReturnType<typeof makeNodeTransport>;
type Envelope = Parameters<Transport['send']>[0];
/** Outcome of one envelope: the HTTP status, or why none came (rate limited, network error). */
type Outcome = { status: number } | { error: string };

const sleepMs = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

const LEVELS: Record<Alert['severity'], SeverityLevel> = {
  critical: 'fatal',
  warning: 'warning',
  info: 'info',
};

/**
 * SentrySink sends alerts to Sentry through `@sentry/node`'s own client and transport. It uses a
 * private NodeClient, not `Sentry.init`, so it installs no global instrumentation and leaves any
 * Sentry setup of an embedding program alone. One issue per alert key (fingerprint).
 */
export class SentrySink implements AlertSink {
  readonly name: string;
  /**
   * Loaded with the sink: @sentry/node and OpenTelemetry are ~680 files, which every `scaleplane`
   * process (and every test importing the app) read at start when this import was static (0.5 CPU-s
   * of the 1.1 s the app's import took), though only a config with a Sentry sink uses them.
   */
  readonly #client: Promise<NodeClient>;
  readonly #options: SentrySinkOptions;
  /** Per event id, its transport outcome: the client itself swallows every failure. */
  readonly #outcomes = new Map<string, PromiseLike<Outcome>>();
  #closed: Promise<void> | undefined;

  constructor(options: SentrySinkOptions) {
    this.#options = options;
    let host: string;
    try {
      host = new URL(options.dsn).host;
    } catch (err) {
      throw new AlertError('ALERT_SINK_INVALID', 'sentry: the DSN is not a URL', { cause: err });
    }
    this.name = `sentry ${host}`;
    this.#client = import('@sentry/node').then((sentry) => {
      const client = new sentry.NodeClient({
        dsn: options.dsn,
        environment: options.environment ?? 'production',
        integrations: [],
        stackParser: sentry.defaultStackParser,
        transport: (transportOptions) => this.#watchedTransport(sentry.makeNodeTransport(transportOptions)),
      });
      client.init();
      return client;
    });
    // A failed load is reported by the send or close that awaits it, not as an unhandled rejection.
    this.#client.catch(() => {});
  }

  /**
   * watchedTransport records each event's outcome. @sentry/node's client drops an event the
   * server refused (5xx, 429) or never got (network error), or that its rate limit held back, and
   * `flush` still answers true: an alert sent while Sentry was briefly down was lost, unretried,
   * with no `sinkError`.
   */
  #watchedTransport(inner: Transport): Transport {
    return {
      ...inner,
      send: (envelope: Envelope) => {
        const id = (envelope[0] as { event_id?: string }).event_id;
        const sent = inner.send(envelope);
        if (id !== undefined)
          this.#outcomes.set(
            id,
            sent.then(
              (res): Outcome =>
                res.statusCode === undefined
                  ? { error: 'held back by its rate limit (Sentry answered 429 earlier)' }
                  : { status: res.statusCode },
              (err: unknown): Outcome => ({ error: String((err as Error)?.message ?? err) }),
            ),
          );
        return sent;
      },
    };
  }

  /**
   * send captures one event and waits until Sentry has taken it (2xx). A network error, a
   * timeout, 429 or 5xx is retried with exponential backoff (each attempt a new event of the same
   * fingerprint); another 4xx is not. Rejects with AlertSinkError once it gives up.
   */
  async send(alert: Alert): Promise<void> {
    if (alert.status === 'resolved' && this.#options.sendResolved === false) return;
    const resolved = alert.status === 'resolved';
    const retries = this.#options.retries ?? 3;
    const sleep = this.#options.sleep ?? sleepMs;
    const client = await this.#client;
    let lastError = '';
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0)
        await sleep(
          retryDelay(
            attempt,
            this.#options.backoffMs ?? 500,
            this.#options.maxBackoffMs ?? 10_000,
            Math.random,
          ),
        );
      const id = client.captureEvent({
        message: resolved ? `resolved: ${alert.summary}` : alert.summary,
        level: resolved ? 'info' : LEVELS[alert.severity],
        fingerprint: ['scaleplane', alert.key],
        tags: {
          alert_key: alert.key,
          alert_status: alert.status,
          ...(alert.group !== undefined && { group: alert.group }),
        },
        extra: {
          ...alert.details,
          startsAt: alert.startsAt,
          endsAt: alert.endsAt,
          occurrences: alert.occurrences,
        },
        logger: 'scaleplane.alerts',
      });
      const drained = await client.flush(this.#options.timeoutMs ?? 5000);
      const pending = this.#outcomes.get(id);
      this.#outcomes.delete(id);
      if (!drained) {
        lastError = 'event not delivered in time';
        continue;
      }
      const outcome = pending === undefined ? { error: 'event dropped before sending' } : await pending;
      if ('error' in outcome) {
        lastError = outcome.error;
        continue;
      }
      if (outcome.status >= 200 && outcome.status < 300) return;
      lastError = `HTTP ${outcome.status}`;
      if (!isRetryable(outcome.status)) break;
    }
    throw new AlertSinkError(this.name, `giving up after ${lastError}`);
  }

  /** close flushes and shuts the client down; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= this.#client
      .then((client) => client.close(this.#options.timeoutMs ?? 5000))
      .then(() => undefined);
    return this.#closed;
  }
}

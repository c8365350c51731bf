import { defaultStackParser, makeNodeTransport, NodeClient, type SeverityLevel } from '@sentry/node';
import { AlertError, AlertSinkError } from './errors.js';
import type { Alert, AlertSink } from './types.js';

/** SentrySinkOptions configures the Sentry sink. */
export interface SentrySinkOptions {
  /** Sentry DSN, normally read from the environment variable named by `dsnEnv`. */
  dsn: string;
  /** @defaultValue 'production' */
  environment?: string;
  /** Also send an `info` event when an alert resolves. @defaultValue true */
  sendResolved?: boolean;
  /** Longest wait for Sentry to take an event. @defaultValue 5000 (ms) */
  timeoutMs?: number;
}

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
  readonly #client: NodeClient;
  readonly #options: SentrySinkOptions;
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
    this.#client = new NodeClient({
      dsn: options.dsn,
      environment: options.environment ?? 'production',
      integrations: [],
      stackParser: defaultStackParser,
      transport: makeNodeTransport,
    });
    this.#client.init();
  }

  /** send captures one event and waits until the transport has delivered it. */
  async send(alert: Alert): Promise<void> {
    if (alert.status === 'resolved' && this.#options.sendResolved === false) return;
    const resolved = alert.status === 'resolved';
    this.#client.captureEvent({
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
    const drained = await this.#client.flush(this.#options.timeoutMs ?? 5000);
    if (!drained) throw new AlertSinkError(this.name, 'event not delivered in time');
  }

  /** close flushes and shuts the client down; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= Promise.resolve(this.#client.close(this.#options.timeoutMs ?? 5000)).then(
      () => undefined,
    );
    return this.#closed;
  }
}

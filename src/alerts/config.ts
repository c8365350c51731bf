import type { AlertSinkConfig, AlertsConfig } from '../config/index.js';
import { AlertError } from './errors.js';
import { type AlertLogger, AlertManager } from './manager.js';
import { SentrySink } from './sentry.js';
import { SlackSink } from './slack.js';
import type { AlertSink } from './types.js';
import { WebhookSink } from './webhook.js';

/**
 * createSink builds one sink from its config, reading secrets (`url_env`, `dsn_env`) from `env`.
 * Throws AlertError `ALERT_SINK_INVALID` when a secret it needs is unset.
 */
export function createSink(config: AlertSinkConfig, env: NodeJS.ProcessEnv = process.env): AlertSink {
  const sink = buildSink(config, env);
  identities.set(sink, identity(config, env));
  return sink;
}

/** What each sink built from config was built from, secret included (never logged): a reload keeps an equal one. */
const identities = new WeakMap<AlertSink, string>();

function identity(config: AlertSinkConfig, env: NodeJS.ProcessEnv): string {
  const variable = config.type === 'sentry' ? config.dsnEnv : config.urlEnv;
  return JSON.stringify([config, variable === undefined ? undefined : env[variable]?.trim()]);
}

function buildSink(config: AlertSinkConfig, env: NodeJS.ProcessEnv): AlertSink {
  if (config.type === 'sentry') {
    const dsn = env[config.dsnEnv]?.trim();
    if (!dsn) throw new AlertError('ALERT_SINK_INVALID', `alerts: sentry needs a DSN in $${config.dsnEnv}`);
    if (!isHttpUrl(dsn))
      throw new AlertError(
        'ALERT_SINK_INVALID',
        `alerts: sentry: $${config.dsnEnv} is not a DSN (https://<key>@<host>/<project>)`,
      );
    return new SentrySink({ dsn, environment: config.environment, sendResolved: config.sendResolved });
  }
  const url = config.url ?? (config.urlEnv === undefined ? undefined : env[config.urlEnv]?.trim());
  if (!url)
    throw new AlertError('ALERT_SINK_INVALID', `alerts: ${config.type} needs a URL in $${config.urlEnv}`);
  // The config's own `url` is checked by the schema; a variable's only here. Before, a value without
  // its scheme stopped `scaleplane up` with 'Invalid URL', naming neither the sink nor the variable
  // (and the TypeError carried the secret as its `input`); a mailto: or ftp: one started and failed
  // every alert. The value is a secret: the message names the variable, not what it holds.
  if (config.url === undefined && !isHttpUrl(url))
    throw new AlertError(
      'ALERT_SINK_INVALID',
      `alerts: ${config.type}: $${config.urlEnv} is not an http(s) URL (such as https://hooks.example/…)`,
    );
  const http = { url, retries: config.retries, timeoutMs: config.timeout };
  return config.type === 'slack'
    ? new SlackSink({ ...http, ...(config.channel !== undefined && { channel: config.channel }) })
    : new WebhookSink({ ...http, headers: config.headers });
}

/** isHttpUrl says whether `text` is an absolute http(s) URL. */
function isHttpUrl(text: string): boolean {
  try {
    const { protocol } = new URL(text);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * SinkConfigError: the sink at `index` of `alerts.sinks` could not be built (a missing or bad
 * secret). It keeps which one, so a refused reload names `alerts.sinks.1` and its line, not the list.
 */
export class SinkConfigError extends AlertError {
  readonly index: number;
  constructor(index: number, cause: unknown) {
    // The message without the builder's "alerts: " prefix: the path in front says where already.
    super('ALERT_SINK_INVALID', (cause as Error).message.replace(/^alerts: /, ''), { cause });
    this.index = index;
  }
}

/**
 * reconfigureAlertManager gives a running manager the sinks and limits of a reloaded `alerts`
 * section; a sink configured as before (same settings, same secret) is kept. Sinks are built first, so a missing secret throws (AlertError) before anything changes.
 */
export function reconfigureAlertManager(
  manager: AlertManager,
  config: AlertsConfig | undefined,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  // A sink whose config (and secret) is unchanged is kept, not rebuilt: the manager sends the alerts
  // still firing to the sinks a reload adds, and a kept one already has them.
  const current = [...manager.sinks];
  const sinks = (config?.sinks ?? []).map((sink, position) => {
    const same = identity(sink, env);
    const index = current.findIndex((s) => identities.get(s) === same);
    if (index >= 0) return current.splice(index, 1)[0]!;
    try {
      return createSink(sink, env);
    } catch (err) {
      throw new SinkConfigError(position, err);
    }
  });
  return manager.reconfigure({
    sinks,
    ...(config !== undefined && {
      rateLimitPerMinute: config.rateLimit,
      repeatInterval: config.repeatInterval,
      keepFiringFor: config.keepFiringFor,
    }),
  });
}

/** createAlertManager builds the manager and its sinks from the `alerts` section (absent: log only). */
export function createAlertManager(
  config: AlertsConfig | undefined,
  options: { logger?: AlertLogger; env?: NodeJS.ProcessEnv; now?: () => number; notifying?: boolean } = {},
): AlertManager {
  return new AlertManager({
    sinks: (config?.sinks ?? []).map((sink) => createSink(sink, options.env)),
    ...(config !== undefined && {
      rateLimitPerMinute: config.rateLimit,
      repeatInterval: config.repeatInterval,
      keepFiringFor: config.keepFiringFor,
    }),
    ...(options.logger !== undefined && { logger: options.logger }),
    ...(options.now !== undefined && { now: options.now }),
    ...(options.notifying !== undefined && { notifying: options.notifying }),
  });
}

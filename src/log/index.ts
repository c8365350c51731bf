import { createRequire } from 'node:module';
import { type Logger, pino } from 'pino';
import { createLogDestination } from './destination.js';

/** LogLevel is one of pino's levels. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/**
 * wantsColor follows https://no-color.org: a `NO_COLOR` that is set and not empty turns colour off.
 * pino-pretty was given `colorize: true`, which colours whatever the environment says.
 */
export function wantsColor(env: NodeJS.ProcessEnv): boolean {
  return (env.NO_COLOR ?? '') === '';
}

/**
 * createLogger returns pino JSON logs, or human-readable lines when `pretty` (default: stdout is a
 * TTY), coloured unless `NO_COLOR` is set.
 */
export function createLogger(options: { level?: LogLevel; pretty?: boolean } = {}): Logger {
  const level = options.level ?? 'info';
  const usePretty = options.pretty ?? process.stdout.isTTY === true;
  if (!usePretty) {
    const logger: Logger = pino(
      { level, base: undefined },
      createLogDestination({
        onRecovered: (info) =>
          logger.warn(
            info,
            `log writes failed (${info.error}) for ${info.failedForMs} ms; ${info.dropped} lines dropped`,
          ),
      }),
    );
    return logger;
  }
  // Required here, not imported above: only a terminal's logs use it, and every process (each CLI
  // child a test starts, each controller under a supervisor) read its 32 files at start.
  const pretty = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  return pino(
    { level, base: undefined },
    pretty({ colorize: wantsColor(process.env), translateTime: 'HH:MM:ss.l', singleLine: true, sync: true }),
  );
}

export type { Logger } from 'pino';
export {
  type ClientErrorListener,
  type ClientErrorLogger,
  type ClientErrorOptions,
  clientErrorStatus,
  onClientError,
} from './client-error.js';
export { createLogDestination, type LogDestination, type LogDestinationOptions } from './destination.js';
export { LogThrottle, type LogThrottleOptions, type LogVerdict } from './log-throttle.js';
export {
  acceptableRequestId,
  ensureRequestId,
  newRequestId,
  REQUEST_ID_HEADER,
  requestIdOf,
} from './request-id.js';

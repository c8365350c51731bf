/**
 * QueueLogger is the subset of pino the queue uses; every record carries an ISO `at` timestamp so
 * failures read in order even through a sink that adds none.
 */
export interface QueueLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** silentLogger drops everything; the default when none is injected. */
export const silentLogger: QueueLogger = { info() {}, warn() {}, error() {} };

/** timestamp is the `at` field of log records and events. */
export function timestamp(now: number = Date.now()): string {
  return new Date(now).toISOString();
}

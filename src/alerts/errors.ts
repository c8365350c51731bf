/** AlertErrorCode lists the stable codes of alert errors. */
export type AlertErrorCode = 'ALERT_SINK_FAILED' | 'ALERT_SINK_INVALID';

/** AlertError is the base of errors the alerts module raises, each with a stable `code`. */
export class AlertError extends Error {
  readonly code: AlertErrorCode;
  constructor(code: AlertErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AlertError';
    this.code = code;
  }
}

/** AlertSinkError: a sink gave up delivering an alert (after its retries). */
export class AlertSinkError extends AlertError {
  constructor(sink: string, message: string, options?: { cause?: unknown }) {
    super('ALERT_SINK_FAILED', `${sink}: ${message}`, options);
    this.name = 'AlertSinkError';
  }
}

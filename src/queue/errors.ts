/**
 * QueueErrorCode names every way a queue operation can fail. Callers branch on these, never on
 * message text.
 */
export type QueueErrorCode =
  | 'QUEUE_INVALID_ARGUMENT'
  | 'QUEUE_UNKNOWN_BACKEND'
  | 'QUEUE_CLOSED'
  | 'QUEUE_BUFFER_FULL'
  | 'QUEUE_PUBLISH_TIMEOUT'
  | 'QUEUE_PUBLISH_FAILED'
  | 'QUEUE_CONNECTION'
  | 'QUEUE_HANDLER_FAILED'
  | 'QUEUE_ACK_FAILED'
  | 'QUEUE_BACKEND';

/** QueueError is the base of every error the queue module throws or emits. */
export class QueueError extends Error {
  /** Stable machine-readable reason. */
  readonly code: QueueErrorCode;

  constructor(code: QueueErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'QueueError';
    this.code = code;
  }
}

/** QueueClosedError is thrown by calls made after `close()`. */
export class QueueClosedError extends QueueError {
  constructor(what: string) {
    super('QUEUE_CLOSED', `${what} is closed`);
    this.name = 'QueueClosedError';
  }
}

/** InvalidArgumentError is thrown eagerly for bad options, naming the offending field. */
export class InvalidArgumentError extends QueueError {
  readonly field: string;

  constructor(field: string, message: string) {
    super('QUEUE_INVALID_ARGUMENT', `${field}: ${message}`);
    this.name = 'InvalidArgumentError';
    this.field = field;
  }
}

/** errorMessage renders any thrown value as a one-line string for logs and dead letters. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

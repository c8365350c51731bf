/**
 * ProviderErrorCode names every way a provider operation can fail. Callers branch on these, never on
 * message text.
 */
export type ProviderErrorCode =
  | 'INVALID_ARGUMENT'
  | 'CLOSED'
  | 'UNKNOWN_PROVIDER'
  | 'SPAWN_FAILED'
  | 'START_FAILED'
  | 'STOP_FAILED'
  | 'DRAIN_FAILED'
  | 'REAPER_FAILED';

/** ProviderError is the base of every error the providers module throws or emits. */
export class ProviderError extends Error {
  /** Stable machine-readable reason. */
  readonly code: ProviderErrorCode;

  constructor(code: ProviderErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProviderError';
    this.code = code;
  }
}

/** InstanceError is a ProviderError about one instance; it carries the instance id. */
export class InstanceError extends ProviderError {
  readonly instanceId: string;

  constructor(code: ProviderErrorCode, instanceId: string, message: string, options?: { cause?: unknown }) {
    super(code, `${instanceId}: ${message}`, options);
    this.name = 'InstanceError';
    this.instanceId = instanceId;
  }
}

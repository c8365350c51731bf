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
  | 'REAPER_FAILED'
  /** A rolling resize could not finish: a new instance never became ready. */
  | 'RESIZE_FAILED'
  /** A rolling resize was taken over by a later one, which finishes the roll: not a failure. */
  | 'RESIZE_SUPERSEDED'
  /** The provider or engine cannot do what was asked (e.g. resize without cgroups). */
  | 'UNSUPPORTED'
  /** The engine's API (Kubernetes, AWS) refused or failed a call. */
  | 'API_ERROR'
  /** The fencing token is no longer the lease's: another controller leads now. */
  | 'FENCED'
  /** The change would leave fewer instances in service than allowed. */
  | 'CAPACITY'
  /** Adopting instances recorded by an earlier controller failed. */
  | 'ADOPT_FAILED'
  /** An instance's record could not be written to the state store (tried again until it is). */
  | 'RECORD_FAILED'
  /** Another resize or replacement is in progress; try again later. */
  | 'BUSY'
  /** No such instance (or not one in service). */
  | 'NOT_FOUND'
  /** Every port of a local group's port_range is held by an instance or in use. */
  | 'NO_PORT';

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

/**
 * BusyError is the BUSY ProviderError of a change refused because another operation of the group
 * is in progress: `operation` names that one (`instance refresh ir-… (InProgress)`), so an answer
 * can say what to wait for, and `retryAfterMs` says when to try again, where the provider knows.
 */
export class BusyError extends ProviderError {
  readonly operation: string;
  readonly retryAfterMs: number | undefined;

  constructor(message: string, detail: { operation: string; retryAfterMs?: number; cause?: unknown }) {
    super('BUSY', message, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.name = 'BusyError';
    this.operation = detail.operation;
    this.retryAfterMs = detail.retryAfterMs;
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

/**
 * invalidInstanceCount is the INVALID_ARGUMENT error for a count `scaleTo` cannot take (anything
 * but a whole number >= 0), or undefined for one it can.
 */
export function invalidInstanceCount(n: number): ProviderError | undefined {
  if (Number.isInteger(n) && n >= 0) return undefined;
  return new ProviderError('INVALID_ARGUMENT', `instances must be an integer >= 0, got ${n}`);
}

/**
 * callEngine runs one call to an engine's API (Kubernetes, AWS) on behalf of `ref` (the workload or
 * Auto Scaling group). A failure that is not a ProviderError already becomes API_ERROR naming `ref`
 * and the call, with the original as its cause, so callers see one error type whatever the SDK threw.
 */
export async function callEngine<T>(ref: string, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ProviderError) throw err;
    throw new ProviderError('API_ERROR', `${ref}: ${what} failed: ${(err as Error).message}`, { cause: err });
  }
}

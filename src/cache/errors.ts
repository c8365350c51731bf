/**
 * CacheErrorCode names every way a cache operation can fail. Callers branch on these, never on
 * message text.
 */
export type CacheErrorCode =
  | 'CACHE_INVALID_OPTION'
  | 'CACHE_CLOSED'
  | 'CACHE_REDIS_UNAVAILABLE'
  | 'CACHE_REDIS_TIMEOUT'
  | 'CACHE_REDIS_COMMAND'
  | 'CACHE_SERIALIZE'
  | 'CACHE_DESERIALIZE'
  | 'CACHE_LOADER_FAILED'
  | 'CACHE_LOADER_TIMEOUT'
  | 'CACHE_BUS'
  | 'CACHE_OFFLINE_QUEUE_FULL';

/** CacheError is the base of every error the cache module throws or reports on its 'error' event. */
export class CacheError extends Error {
  /** Stable machine-readable reason. */
  readonly code: CacheErrorCode;

  constructor(code: CacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CacheError';
    this.code = code;
  }
}

/** CacheOptionError is thrown eagerly by `createCache` and per-call options that do not validate. */
export class CacheOptionError extends CacheError {
  /** The option's path, e.g. `memory.maxBytes`. */
  readonly option: string;

  constructor(option: string, message: string) {
    super('CACHE_INVALID_OPTION', `${option}: ${message}`);
    this.name = 'CacheOptionError';
    this.option = option;
  }
}

/** RedisTierError reports a Redis command that failed, timed out or was skipped; never thrown to callers. */
export class RedisTierError extends CacheError {
  /** The Redis operation, e.g. `get`, `set`, `lock`. */
  readonly operation: string;

  constructor(
    code:
      | 'CACHE_REDIS_UNAVAILABLE'
      | 'CACHE_REDIS_TIMEOUT'
      | 'CACHE_REDIS_COMMAND'
      | 'CACHE_OFFLINE_QUEUE_FULL',
    operation: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(code, `redis ${operation}: ${message}`, options);
    this.name = 'RedisTierError';
    this.operation = operation;
  }
}

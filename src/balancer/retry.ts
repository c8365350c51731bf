/**
 * UpstreamFailure classifies why talking to a backend failed:
 * - `connect`: no connection was made, so the backend saw nothing;
 * - `reset`: the connection broke after it was made;
 * - `timeout`: the request ran out of time;
 * - `other`: anything else (e.g. a malformed response).
 */
export type UpstreamFailure = 'connect' | 'reset' | 'timeout' | 'other';

const CONNECT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  // undici's own codes, for attempts through its pools.
  'UND_ERR_CONNECT_TIMEOUT',
]);

// UND_ERR_SOCKET: undici's "other side closed", the backend closing the connection on us.
const RESET_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET']);

/**
 * classifyUpstreamError maps a socket or HTTP client error to an UpstreamFailure by its `code`, and
 * for `ETIMEDOUT` by its phase: from the `connect` syscall (the kernel gave up on the SYN, or the
 * balancer's connect timeout fired, see connect-timeout.ts) no connection was made and the backend
 * saw nothing, so it is a `connect` failure, which any method may retry (Envoy's connect-failure);
 * on an open connection (a read or write timing out) the request may have been acted on.
 */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return 'other';
  if (CONNECT_CODES.has(code)) return 'connect';
  if (RESET_CODES.has(code)) return 'reset';
  if (code === 'ETIMEDOUT')
    return (err as { syscall?: unknown }).syscall === 'connect' ? 'connect' : 'timeout';
  return 'other';
}

/**
 * gatewayStatus is the status a client gets when `err` failed its request with no other backend
 * left to try: 504 when a backend ran out of time, connecting included, 502 for anything else.
 * NGINX's mapping (`ngx_http_upstream_next`: NGX_HTTP_UPSTREAM_FT_TIMEOUT is a 504, an error a
 * 502), whose 502 for a refused connect the balancer already gives. Before, a connect timeout
 * was a 502, which neither NGINX (504) nor Envoy (503 for any connect failure) answers: it reads
 * as a backend that refused, not one that never answered.
 */
export function gatewayStatus(err: unknown): 502 | 504 {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? 504 : 502;
}

/** MAX_RETRIES is how many other backends one request may be retried on. */
export const MAX_RETRIES = 2;

/** RetryInput is everything `retryDecision` looks at, about one failed attempt. */
export interface RetryInput {
  readonly method: string;
  readonly failure: UpstreamFailure;
  /** The attempt ran on a keep-alive socket an earlier request had used (`req.reusedSocket`). */
  readonly reusedSocket: boolean;
  /** The request has a body (content-length > 0 or a transfer-encoding). */
  readonly hasBody: boolean;
  /** Some of the body was already handed to this attempt, so it is gone unless kept. */
  readonly bodyStarted: boolean;
  /**
   * The body the client sent so far is kept whole (see REPLAY_BODY_LIMIT), so another attempt can
   * send it again: a request with such a body is retried where a bodiless one is.
   * @defaultValue false
   */
  readonly bodyReplayable?: boolean;
  /** Response headers from the backend were already received. */
  readonly responseStarted: boolean;
  /** The client sent an `Idempotency-Key` header. */
  readonly idempotencyKey: boolean;
  /**
   * The attempt was cut by the per-try timeout (`per_try_timeout`): the backend had the request and
   * sent no response headers in time. Such a `timeout` is retried as a reset before any response
   * byte is; any other `timeout` is not. @defaultValue false
   */
  readonly perTryTimeout?: boolean;
  /** Retries already made for this request. */
  readonly retries: number;
  readonly maxRetries: number;
  /**
   * Asked last, only when everything else allows a retry: whether the group's retry budget has room
   * (spending it when it does). @defaultValue always true
   */
  readonly budgetAvailable?: () => boolean;
}

/** RetryReason is the stable reason token of a retry decision. */
export type RetryReason =
  | 'ConnectFailed'
  | 'StaleKeepAlive'
  | 'IdempotentReset'
  | 'TryTimedOut'
  | 'ResponseStarted'
  | 'RetryLimit'
  | 'BodyStreamed'
  | 'FreshConnectionReset'
  | 'HasBody'
  | 'NotIdempotent'
  | 'NotRetriable'
  | 'RetryBudgetExhausted';

/** RetryDecision says whether to retry on another backend, and why. */
export interface RetryDecision {
  readonly retry: boolean;
  readonly reason: RetryReason;
}

const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * REPLAY_BODY_LIMIT is the largest request body the balancer keeps while it streams, so that a
 * request `mayRepeat` allows can be sent again after a reset or a per-try timeout. NGINX buffers
 * every body before it picks a backend (spilling to disk) and Envoy buffers up to its per-request
 * limit for the same reason; a body streamed and dropped made every PUT or DELETE with a body that
 * met the keep-alive race a 502. Above it (or, chunked, once past it) the body is streamed alone,
 * as before, and the request is not repeated once any of it went out.
 */
export const REPLAY_BODY_LIMIT = 64 * 1024;

/**
 * mayRepeat says whether a request may be sent to a backend again when an attempt failed before
 * any response: its method is idempotent (RFC 9110 §9.2.2) or it carries an `Idempotency-Key`.
 */
export function mayRepeat(method: string, idempotencyKey: boolean): boolean {
  return idempotencyKey || IDEMPOTENT_METHODS.has(method);
}

// Decisions are constants so the hot path allocates nothing for them.
const decisions = {
  ConnectFailed: { retry: true, reason: 'ConnectFailed' },
  StaleKeepAlive: { retry: true, reason: 'StaleKeepAlive' },
  IdempotentReset: { retry: true, reason: 'IdempotentReset' },
  TryTimedOut: { retry: true, reason: 'TryTimedOut' },
  ResponseStarted: { retry: false, reason: 'ResponseStarted' },
  RetryLimit: { retry: false, reason: 'RetryLimit' },
  BodyStreamed: { retry: false, reason: 'BodyStreamed' },
  FreshConnectionReset: { retry: false, reason: 'FreshConnectionReset' },
  HasBody: { retry: false, reason: 'HasBody' },
  NotIdempotent: { retry: false, reason: 'NotIdempotent' },
  NotRetriable: { retry: false, reason: 'NotRetriable' },
  RetryBudgetExhausted: { retry: false, reason: 'RetryBudgetExhausted' },
} as const satisfies Record<RetryReason, RetryDecision>;

/**
 * retryDecision says whether a failed attempt may be repeated on another backend without risking
 * that a backend acts on the request twice:
 * 1. never once a response started or the retry budget is spent;
 * 2. never once any of the body was streamed (it is gone), unless the whole of it was kept;
 * 3. always when no connection was made (the backend saw nothing), whatever the method;
 * 4. when the connection was reset before any response byte — on a reused keep-alive socket the
 *    backend most likely closed it as idle just as we sent; on a fresh one it died — or the
 *    per-try timeout cut an attempt that had no response headers yet, but only for a request whose
 *    body, if any, was kept, and whose method is idempotent or that carries an Idempotency-Key,
 *    since the backend may have acted on it (a hung backend may still finish what it was sent);
 * 5. and then only while the group's retry budget has room, so retries cannot storm.
 */
export function retryDecision(input: RetryInput): RetryDecision {
  const decision = safeToRetry(input);
  if (decision.retry && input.budgetAvailable !== undefined && !input.budgetAvailable())
    return decisions.RetryBudgetExhausted;
  return decision;
}

/**
 * RetryOverflow is why a retry that was otherwise safe to make was refused: the group's retry
 * `budget` was spent (Envoy's `upstream_rq_retry_overflow`), or the request had used up its retries,
 * the `limit` (Envoy's `upstream_rq_retry_limit_exceeded`). The `reason` label of
 * `scaleplane_retry_overflows_total`.
 */
export type RetryOverflow = 'budget' | 'limit';

/** RETRY_OVERFLOWS lists every RetryOverflow, for metric children made up front. */
export const RETRY_OVERFLOWS: readonly RetryOverflow[] = ['budget', 'limit'];

/**
 * retryOverflow says why `decision` refused a retry that was otherwise safe to make, undefined when
 * it made one or the failure was never retriable: `budget` when the group's retry budget was spent,
 * `limit` when the request used up its retries on a failure that would have been retried. A failure
 * that was never retriable (a started response, a streamed body, a non-idempotent reset) is no
 * overflow, even at the limit, since safeToRetry names the limit before it looks at the failure.
 */
export function retryOverflow(input: RetryInput, decision: RetryDecision): RetryOverflow | undefined {
  if (decision.reason === 'RetryBudgetExhausted') return 'budget';
  if (decision.reason === 'RetryLimit' && safeToRetry({ ...input, retries: 0, maxRetries: 1 }).retry)
    return 'limit';
  return undefined;
}

/**
 * retryOverflowed says whether `decision` refused a retry that was otherwise safe to make, for
 * either reason (see `retryOverflow`).
 */
export function retryOverflowed(input: RetryInput, decision: RetryDecision): boolean {
  return retryOverflow(input, decision) !== undefined;
}

function safeToRetry(input: RetryInput): RetryDecision {
  if (input.responseStarted) return decisions.ResponseStarted;
  if (input.retries >= input.maxRetries) return decisions.RetryLimit;
  const replayable = input.bodyReplayable === true;
  if (input.bodyStarted && !replayable) return decisions.BodyStreamed;
  if (input.failure === 'connect') return decisions.ConnectFailed;
  const tryTimedOut = input.failure === 'timeout' && input.perTryTimeout === true;
  if (input.failure !== 'reset' && !tryTimedOut) return decisions.NotRetriable;
  if (input.hasBody && !replayable) return decisions.HasBody;
  if (!mayRepeat(input.method, input.idempotencyKey)) {
    return input.reusedSocket || tryTimedOut ? decisions.NotIdempotent : decisions.FreshConnectionReset;
  }
  if (tryTimedOut) return decisions.TryTimedOut;
  return input.reusedSocket ? decisions.StaleKeepAlive : decisions.IdempotentReset;
}

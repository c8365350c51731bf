/**
 * BalancerErrorCode names every way a balancer operation can fail. Callers branch on these, never on
 * message text.
 */
export type BalancerErrorCode =
  | 'BALANCER_INVALID_ARGUMENT'
  | 'BALANCER_INVALID_ADDRESS'
  | 'BALANCER_UNKNOWN_ALGORITHM'
  | 'BALANCER_UNKNOWN_GROUP'
  | 'BALANCER_LISTEN_FAILED'
  | 'BALANCER_CLOSED';

/** BalancerError is the base of every error the balancer module throws. */
export class BalancerError extends Error {
  /** Stable machine-readable reason. */
  readonly code: BalancerErrorCode;

  constructor(code: BalancerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BalancerError';
    this.code = code;
  }
}

/** UnknownGroupError is thrown when a call names a group the balancer does not have. */
export class UnknownGroupError extends BalancerError {
  readonly group: string;

  constructor(group: string) {
    super('BALANCER_UNKNOWN_GROUP', `unknown group "${group}"`);
    this.name = 'UnknownGroupError';
    this.group = group;
  }
}

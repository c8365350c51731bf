/** ControllerError is the base of errors the controller raises, each with a stable `code`. */
export class ControllerError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ControllerError';
    this.code = code;
  }
}

/** UnknownGroupError: no group has that name. */
export class UnknownGroupError extends ControllerError {
  /** `known`: the groups there are, named in the message so a typo shows its fix. */
  constructor(group: string, known?: readonly string[]) {
    const there =
      known === undefined
        ? ''
        : known.length === 0
          ? ' (there are no groups)'
          : ` (groups: ${known.join(', ')})`;
    super('SCALEPLANE_UNKNOWN_GROUP', `unknown group "${group}"${there}`);
    this.name = 'UnknownGroupError';
  }
}

/** OutOfRangeError: a manual scale would leave [min_instances, max_instances]; nothing was changed. */
export class OutOfRangeError extends ControllerError {
  constructor(
    group: string,
    requested: number,
    min: number,
    max: number,
    /**
     * The count and the step of a relative scale (`+5` from 1): shown, since the bare result of
     * `scale web -5` from 1 read "-4 requested", a count nobody typed.
     */
    step?: { previous: number; by: number },
  ) {
    const asked =
      step === undefined
        ? `${requested}`
        : `${step.previous} ${step.by < 0 ? '-' : '+'} ${Math.abs(step.by)} = ${requested}`;
    super(
      'SCALEPLANE_OUT_OF_RANGE',
      `group "${group}" must stay within ${min}..${max} instances; ${asked} requested, nothing changed`,
    );
    this.name = 'OutOfRangeError';
  }
}

/** LimitKind names the `limits` cap a request would break. */
export type LimitKind = 'max_step' | 'max_instances_total';

/** LimitExceededError: a manual scale would break a `limits` cap; nothing was changed. */
export class LimitExceededError extends ControllerError {
  readonly limit: LimitKind;
  constructor(limit: LimitKind, message: string) {
    super('SCALEPLANE_LIMIT_EXCEEDED', `${message} (limits.${limit}); nothing changed`);
    this.name = 'LimitExceededError';
    this.limit = limit;
  }
}

/** StartingError: the controller is adopting what already runs; changes wait until it has (API: 503). */
export class StartingError extends ControllerError {
  constructor() {
    super(
      'SCALEPLANE_STARTING',
      'the controller is starting (adopting running instances); retry in a moment',
    );
    this.name = 'StartingError';
  }
}

/** NotLeaderError: this controller stands by; another one leads and makes every change (API: 503). */
export class NotLeaderError extends ControllerError {
  readonly leader: string | undefined;
  constructor(leader: string | undefined) {
    super(
      'SCALEPLANE_NOT_LEADER',
      `this controller is a standby; ${leader ? `the leader is ${leader}` : 'no leader is elected yet'}: send changes to the leader`,
    );
    this.name = 'NotLeaderError';
    this.leader = leader;
  }
}

/**
 * InProgressError: a change refused because another operation of the group is in progress (a
 * provider's BUSY, e.g. an instance refresh someone else started): nothing of it was made (API:
 * 409 Conflict, naming `operation`, with Retry-After when `retryAfterSeconds` is known). Before,
 * it reached the API as a 503 SCALEPLANE_NOT_STORED "not in effect: repeat it", which read as a
 * failed write to retry at once rather than a conflict to wait out.
 */
export class InProgressError extends ControllerError {
  /** What runs and holds the group, e.g. `instance refresh ir-0abc of web-asg (InProgress)`. */
  readonly operation: string;
  /** When to try again, where the provider knows it (whole seconds, at least 1). */
  readonly retryAfterSeconds: number | undefined;
  constructor(
    message: string,
    detail: { operation: string; retryAfterSeconds?: number },
    options?: { cause?: unknown },
  ) {
    super('SCALEPLANE_BUSY', message, options);
    this.name = 'InProgressError';
    this.operation = detail.operation;
    this.retryAfterSeconds = detail.retryAfterSeconds;
  }
}

/**
 * NotStoredError: a change was made, or refused, but the state store did not confirm it, or, for a
 * Kubernetes or AWS resize, the engine did not take the size (API: 503; `backend` names which).
 * `inEffect` says whether this controller runs with it regardless (a failed or slow write: a
 * failover before a later write stores it would restore the previous value) or not (the lease
 * refused the write, STATE_FENCED: this controller was deposed and its provider calls are fenced).
 */
export class NotStoredError extends ControllerError {
  readonly inEffect: boolean;
  readonly backend: string;
  constructor(
    message: string,
    detail: { inEffect: boolean; backend: string },
    options?: { cause?: unknown },
  ) {
    super('SCALEPLANE_NOT_STORED', message, options);
    this.name = 'NotStoredError';
    this.inEffect = detail.inEffect;
    this.backend = detail.backend;
  }
}

import type { InstanceState } from '../providers/types.js';

/**
 * Backend is one upstream server of a group as the pickers and `stats()` see it. Only the pool
 * changes these fields.
 */
export interface Backend {
  /** The instance id (e.g. `web-3`). */
  readonly id: string;
  /** `host:port` the balancer connects to. */
  readonly address: string;
  /** Relative share of picks for weighted algorithms. @defaultValue 1 */
  readonly weight: number;
  /** Requests picked for this backend whose response has not ended or been aborted. */
  readonly inFlight: number;
  /** Result of the active health check; new backends start healthy. */
  readonly healthy: boolean;
  /** Set once the instance is draining: it finishes what it has and gets no new picks. */
  readonly draining: boolean;
}

/** BackendInstance is what the balancer needs to know of a provider's instance. */
export interface BackendInstance {
  readonly id: string;
  readonly address: string;
  readonly state: InstanceState;
  /** @defaultValue 1 */
  readonly weight?: number;
}

/** BackendStats is a point-in-time copy of one backend, as `Balancer.stats()` reports it. */
export interface BackendStats {
  id: string;
  address: string;
  inFlight: number;
  healthy: boolean;
  draining: boolean;
  /** Taken out by passive outlier detection. */
  ejected: boolean;
  /** Effective weight (below the configured one while slow start ramps it). */
  weight: number;
}

/** GroupStats is a point-in-time view of one group's traffic. */
export interface GroupStats {
  /** Requests of this group in flight through the balancer. */
  inFlight: number;
  /** Requests routed to this group since it was added. */
  requests: number;
  /** Too few usable backends: every non-draining one takes requests. */
  panic: boolean;
  backends: BackendStats[];
}

/** BalancerLogger is the part of a pino-style logger the balancer writes to (fields first). */
export interface BalancerLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

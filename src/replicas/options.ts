import type { Registry } from 'prom-client';
import { monotonicNow } from '../clock.js';
import type { ReadYourWritesMode } from './choose.js';
import { ReplicaError } from './errors.js';

/** Clock gives the time in ms; injected so routing decisions can be replayed in tests. */
export interface Clock {
  now(): number;
}

/** RouterLogger is the slice of a pino logger the router uses when nobody listens for 'error'. */
export interface RouterLogger {
  warn(object: object, message: string): void;
}

/** ReadYourWritesOptions picks how a session sees its own writes. */
export interface ReadYourWritesOptions {
  /**
   * `replayed`: after a write, read from a replica known or checked to have replayed it, else the
   * primary. `window`: read from the primary for `window` ms after a write. `off`: no guarantee.
   * @defaultValue 'replayed'
   */
  mode?: ReadYourWritesMode;
  /** ms, window mode only. @defaultValue 5000 */
  window?: number;
  /** Replayed mode: ask a replica (LSN check / MASTER_GTID_WAIT) rather than go to the primary. @defaultValue true */
  verify?: boolean;
  /** ms a replica may take to confirm it has the write. @defaultValue 20 */
  waitTimeout?: number;
}

/** ReplicaRouterOptions configures a router; every field has a default. */
export interface ReplicaRouterOptions {
  /** Label on the metrics and events. @defaultValue 'default' */
  name?: string;
  /** ms of replication lag beyond which a replica gets no reads. @defaultValue 5000 */
  maxLag?: number;
  /** ms a recovered replica must stay within maxLag before it gets reads again. @defaultValue 3000 */
  holdTime?: number;
  /** ms between probe rounds. @defaultValue 1000 */
  probeInterval?: number;
  /** ms each probe query may take before the server counts as unreachable. @defaultValue probeInterval */
  probeTimeout?: number;
  /**
   * ms after which a replica's last sample no longer counts (probes stuck).
   * @defaultValue 2 × probeInterval + 2 × probeTimeout: a round probes the primary, then the replicas,
   * so with the primary timing out a sample's successor lands up to interval + 2 × timeout later;
   * the old 3 × probeInterval equalled that gap with the default timeout, and a loaded machine sent
   * reads to the primary between two healthy samples.
   */
  staleAfter?: number;
  /**
   * ms from the start of one probe round to the start of a round asked for between the scheduled ones
   * (a read failed as if its replica were unreachable, a write found the primary read-only): such
   * rounds come at most this often, and those asking meanwhile share the next. 0 runs each at once.
   * @defaultValue 250
   */
  recheckGap?: number;
  /** ms of lag difference treated as a tie when choosing a replica. @defaultValue 100 */
  lagTolerance?: number;
  /** What a read does when no replica is fresh enough. @defaultValue 'primary' */
  fallback?: 'primary' | 'fail';
  /** @defaultValue { mode: 'replayed', window: 5000, verify: true, waitTimeout: 20 } */
  readYourWrites?: ReadYourWritesOptions;
  /** Retry a read that failed on an unreachable replica once, elsewhere. @defaultValue true */
  retryReads?: boolean;
  /**
   * The clock of holdTime, staleAfter, the read-your-writes window and the lag history.
   * @defaultValue monotonicNow, the decision clock (clock.ts): with Date.now, a step back of the
   * system clock held a caught-up replica out for as long as the step (every read on the primary),
   * and a step forward ended a session's read-your-writes window at once
   */
  clock?: Clock;
  /** Registry for the metrics. @defaultValue a private registry */
  registry?: Registry;
  /** Receives background errors when no 'error' listener is attached. @defaultValue none */
  logger?: RouterLogger;
  /** Distinct SQL strings whose classification is remembered. @defaultValue 2000 */
  classifyCacheSize?: number;
}

/** ResolvedRouterOptions is ReplicaRouterOptions with every default applied. */
export interface ResolvedRouterOptions {
  name: string;
  maxLag: number;
  holdTime: number;
  probeInterval: number;
  probeTimeout: number;
  staleAfter: number;
  recheckGap: number;
  lagTolerance: number;
  fallback: 'primary' | 'fail';
  readYourWrites: Required<ReadYourWritesOptions>;
  retryReads: boolean;
  clock: Clock;
  registry: Registry | undefined;
  logger: RouterLogger | undefined;
  classifyCacheSize: number;
}

const decisionClock: Clock = { now: monotonicNow };

/** resolveRouterOptions applies the defaults and rejects nonsense at once, naming the field. */
export function resolveRouterOptions(options: ReplicaRouterOptions = {}): ResolvedRouterOptions {
  const probeInterval = options.probeInterval ?? 1000;
  const probeTimeout = options.probeTimeout ?? probeInterval;
  const ryw = options.readYourWrites ?? {};
  const resolved: ResolvedRouterOptions = {
    name: options.name ?? 'default',
    maxLag: options.maxLag ?? 5000,
    holdTime: options.holdTime ?? 3000,
    probeInterval,
    probeTimeout,
    staleAfter: options.staleAfter ?? staleAfterDefault(probeInterval, probeTimeout),
    recheckGap: options.recheckGap ?? 250,
    lagTolerance: options.lagTolerance ?? 100,
    fallback: options.fallback ?? 'primary',
    readYourWrites: {
      mode: ryw.mode ?? 'replayed',
      window: ryw.window ?? 5000,
      verify: ryw.verify ?? true,
      waitTimeout: ryw.waitTimeout ?? 20,
    },
    retryReads: options.retryReads ?? true,
    clock: options.clock ?? decisionClock,
    registry: options.registry,
    logger: options.logger,
    classifyCacheSize: options.classifyCacheSize ?? 2000,
  };
  const durations: Array<[string, number]> = [
    ['maxLag', resolved.maxLag],
    ['holdTime', resolved.holdTime],
    ['recheckGap', resolved.recheckGap],
    ['lagTolerance', resolved.lagTolerance],
    ['readYourWrites.window', resolved.readYourWrites.window],
    ['readYourWrites.waitTimeout', resolved.readYourWrites.waitTimeout],
    ['classifyCacheSize', resolved.classifyCacheSize],
  ];
  for (const [field, value] of durations) {
    if (!Number.isFinite(value) || value < 0) invalid(field, `must be a number ≥ 0, got ${value}`);
  }
  for (const [field, value] of [
    ['probeInterval', resolved.probeInterval],
    ['probeTimeout', resolved.probeTimeout],
    ['staleAfter', resolved.staleAfter],
  ] as const) {
    if (!Number.isFinite(value) || value <= 0) invalid(field, `must be a number > 0, got ${value}`);
  }
  // A sample that goes stale before the next probe lands would send reads to the primary for part of every interval.
  if (resolved.staleAfter <= resolved.probeInterval)
    invalid(
      'staleAfter',
      `must be longer than probeInterval (${resolved.probeInterval}), got ${resolved.staleAfter}`,
    );
  for (const [field, value] of [
    ['retryReads', resolved.retryReads],
    ['readYourWrites.verify', resolved.readYourWrites.verify],
  ] as const) {
    if (typeof value !== 'boolean') invalid(field, `must be true or false, got ${String(value)}`);
  }
  if (resolved.fallback !== 'primary' && resolved.fallback !== 'fail')
    invalid('fallback', `must be "primary" or "fail", got ${String(resolved.fallback)}`);
  if (!['replayed', 'window', 'off'].includes(resolved.readYourWrites.mode))
    invalid(
      'readYourWrites.mode',
      `must be "replayed", "window" or "off", got ${resolved.readYourWrites.mode}`,
    );
  if (typeof resolved.name !== 'string' || resolved.name.length === 0)
    invalid('name', `must be a non-empty string, got ${JSON.stringify(resolved.name)}`);
  return resolved;
}

/**
 * staleAfterDefault leaves a whole interval of slack over the longest healthy gap between two samples
 * of one replica: the interval plus a primary probe and a replica probe that both run to the timeout.
 */
export function staleAfterDefault(probeInterval: number, probeTimeout: number): number {
  return 2 * probeInterval + 2 * probeTimeout;
}

function invalid(field: string, message: string): never {
  throw new ReplicaError('REPLICA_INVALID_ARGUMENT', `${field} ${message}`);
}

import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { Socket } from 'node:net';
import type { HealthCheckConfig } from '../config/types.js';
import type { ScaleplaneMetrics } from '../metrics/index.js';
import { BalancerError } from './errors.js';

/** HealthState is where one backend stands in the active health check. */
export interface HealthState {
  readonly healthy: boolean;
  /** Consecutive passed checks, counted while unhealthy. */
  readonly successes: number;
  /** Consecutive failed checks, counted while healthy. */
  readonly failures: number;
}

/** INITIAL_HEALTH is a new backend's state: healthy, since the provider saw its health path answer. */
export const INITIAL_HEALTH: HealthState = { healthy: true, successes: 0, failures: 0 };

/** HealthThresholds are the run lengths that flip a backend's health. */
export type HealthThresholds = Pick<HealthCheckConfig, 'healthyThreshold' | 'unhealthyThreshold'>;

/**
 * nextHealthState folds one check result into a state: `unhealthyThreshold` failures in a row
 * take a healthy backend out, `healthyThreshold` passes in a row bring an unhealthy one back.
 */
export function nextHealthState(
  state: HealthState,
  passed: boolean,
  thresholds: HealthThresholds,
): HealthState {
  if (passed) {
    if (state.healthy) return state.failures === 0 ? state : INITIAL_HEALTH;
    const successes = state.successes + 1;
    return successes >= thresholds.healthyThreshold
      ? INITIAL_HEALTH
      : { healthy: false, successes, failures: 0 };
  }
  if (!state.healthy) return state.successes === 0 ? state : { healthy: false, successes: 0, failures: 0 };
  const failures = state.failures + 1;
  return failures >= thresholds.unhealthyThreshold
    ? { healthy: false, successes: 0, failures: 0 }
    : { healthy: true, successes: 0, failures };
}

/** checkPassed says whether a health-check status passes: 2xx and 3xx do, anything else (503…) fails. */
export function checkPassed(statusCode: number): boolean {
  return statusCode >= 200 && statusCode < 400;
}

/** HealthTransition reports a backend going healthy or unhealthy. */
export interface HealthTransition {
  readonly group: string;
  readonly id: string;
  readonly address: string;
  readonly healthy: boolean;
  /** What the check that tipped it saw: a status code (`503`) or an error code (`ECONNREFUSED`). */
  readonly detail: string;
}

/** HealthCheckerEvents are what a HealthChecker emits. */
export interface HealthCheckerEvents {
  transition: [transition: HealthTransition];
}

/** HealthTarget is a backend to probe. */
export interface HealthTarget {
  readonly id: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
}

/** HealthCheckerOptions configures a HealthChecker. */
export interface HealthCheckerOptions {
  group: string;
  config: HealthCheckConfig;
  metrics: ScaleplaneMetrics;
  /** Path to GET, when the group's differs from the balancer-wide one. @defaultValue config.path */
  path?: string;
}

interface Probe {
  readonly target: HealthTarget;
  state: HealthState;
  timer: NodeJS.Timeout | undefined;
  request: http.ClientRequest | undefined;
  stopped: boolean;
}

function probeTimedOut(): Error {
  return Object.assign(new Error('health check timed out'), { code: 'ETIMEDOUT' });
}

/**
 * HealthChecker runs active HTTP health checks on the backends of one group: a GET of the health
 * path every `interval` on a fresh connection, each bounded by `timeout`. It emits `transition` and
 * counts `healthTransitions`; it never throws in the background. Its timers do not keep a process up.
 */
export class HealthChecker extends EventEmitter<HealthCheckerEvents> {
  /** Path the next checks GET. */
  path: string;
  readonly #group: string;
  readonly #config: HealthCheckConfig;
  readonly #metrics: ScaleplaneMetrics;
  readonly #probes = new Map<string, Probe>();

  constructor(options: HealthCheckerOptions) {
    super();
    validateHealthConfig(options.config);
    this.#group = options.group;
    this.#config = options.config;
    this.#metrics = options.metrics;
    this.path = options.path ?? options.config.path;
  }

  /** add starts checking a backend, first after one interval; it starts out healthy. */
  add(target: HealthTarget): void {
    this.remove(target.id);
    const probe: Probe = {
      target,
      state: INITIAL_HEALTH,
      timer: undefined,
      request: undefined,
      stopped: false,
    };
    this.#probes.set(target.id, probe);
    this.#schedule(probe);
  }

  /** remove stops checking a backend and abandons a check in progress. */
  remove(id: string): void {
    const probe = this.#probes.get(id);
    if (probe === undefined) return;
    this.#probes.delete(id);
    probe.stopped = true;
    clearTimeout(probe.timer);
    probe.request?.destroy();
  }

  /** close stops every check; safe to call twice. */
  close(): void {
    for (const id of [...this.#probes.keys()]) this.remove(id);
  }

  #schedule(probe: Probe): void {
    probe.timer = setTimeout(() => this.#check(probe), this.#config.interval);
    probe.timer.unref();
  }

  #check(probe: Probe): void {
    probe.timer = undefined;
    const { host, port } = probe.target;
    const request = http.request({
      host,
      port,
      path: this.path,
      method: 'GET',
      agent: false,
      headers: { 'user-agent': 'scaleplane-health-check' },
    });
    probe.request = request;
    // The deadline covers the whole response, body included (as Envoy's health check timeout does):
    // a check judged at its status line left a body that never ended holding a connection at both
    // ends, one more every interval, and passed a backend that cannot finish a response.
    const deadline = setTimeout(() => {
      const err = probeTimedOut();
      request.destroy(err);
      settle(false, 'ETIMEDOUT');
    }, this.#config.timeout);
    deadline.unref();
    let settled = false;
    const settle = (passed: boolean, detail: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      probe.request = undefined;
      if (probe.stopped) return;
      this.#record(probe, passed, detail);
      this.#schedule(probe);
    };
    request.on('socket', unrefSocket);
    request.on('response', (response) => {
      const status = response.statusCode ?? 0;
      response.on('error', (err: NodeJS.ErrnoException) => settle(false, err.code ?? err.message));
      response.on('end', () => settle(checkPassed(status), String(status)));
      response.on('close', () => {
        if (!response.complete) settle(false, 'ECONNRESET');
      });
      response.resume();
    });
    request.on('error', (err: NodeJS.ErrnoException) => settle(false, err.code ?? err.message));
    request.end();
  }

  #record(probe: Probe, passed: boolean, detail: string): void {
    const next = nextHealthState(probe.state, passed, this.#config);
    const changed = next.healthy !== probe.state.healthy;
    probe.state = next;
    if (!changed) return;
    this.#metrics.healthTransitions.inc({ group: this.#group, to: next.healthy ? 'healthy' : 'unhealthy' });
    this.emit('transition', {
      group: this.#group,
      id: probe.target.id,
      address: probe.target.address,
      healthy: next.healthy,
      detail,
    });
  }
}

function unrefSocket(socket: Socket): void {
  socket.unref();
}

/** validateHealthConfig throws a BalancerError for a health config no checker can run. */
export function validateHealthConfig(config: HealthCheckConfig): void {
  const positive = { interval: config.interval, timeout: config.timeout } as const;
  for (const [field, value] of Object.entries(positive)) {
    if (!Number.isFinite(value) || value <= 0) {
      throw new BalancerError('BALANCER_INVALID_ARGUMENT', `health.${field} must be > 0 ms, got ${value}`);
    }
  }
  const counts = { healthyThreshold: config.healthyThreshold, unhealthyThreshold: config.unhealthyThreshold };
  for (const [field, value] of Object.entries(counts)) {
    if (!Number.isInteger(value) || value < 1) {
      throw new BalancerError(
        'BALANCER_INVALID_ARGUMENT',
        `health.${field} must be an integer >= 1, got ${value}`,
      );
    }
  }
  if (!config.path.startsWith('/')) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `health.path must start with "/", got "${config.path}"`,
    );
  }
}

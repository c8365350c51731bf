import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BalancerConfig, HostPort } from '../config/types.js';
import type { ScaleplaneMetrics } from '../metrics/index.js';
import { createPicker } from './algorithms/index.js';
import { BalancerError, UnknownGroupError } from './errors.js';
import { HealthChecker, type HealthTransition, validateHealthConfig } from './health.js';
import { Pool, type PoolChange } from './pool.js';
import { GroupRoute, ProxyPath } from './proxy.js';
import type { BackendInstance, BalancerLogger, GroupStats } from './types.js';

/** BalancerOptions configures a Balancer. */
export interface BalancerOptions {
  config: BalancerConfig;
  metrics: ScaleplaneMetrics;
  /** Where background failures and notable events go. @defaultValue a logger that drops everything */
  logger?: BalancerLogger;
}

/** GroupOptions are per-group settings of `setGroup`. */
export interface GroupOptions {
  /** Health path of this group's instances. @defaultValue config.health.path */
  healthPath?: string;
}

/** BalancerEvents are what a Balancer emits. */
export interface BalancerEvents {
  /** A backend went healthy or unhealthy by its active health check. */
  health: [transition: HealthTransition];
}

interface GroupEntry {
  readonly route: GroupRoute;
  readonly checker: HealthChecker;
}

// Just under the 5 s keep-alive timeout of Node's http server, the most common backend, so we drop
// an idle socket before the backend does rather than race it.
const IDLE_SOCKET_TIMEOUT = 4_000;

const silentLogger: BalancerLogger = { info() {}, warn() {}, error() {} };

/**
 * Balancer is Scaleplane's HTTP/1.1 load balancer: a node:http server that forwards each request to
 * a backend of a group over one keep-alive agent, with active health checks, safe retries and
 * draining. Groups are fed by `setGroup` from the providers' instance lists.
 */
export class Balancer extends EventEmitter<BalancerEvents> {
  readonly #config: BalancerConfig;
  readonly #metrics: ScaleplaneMetrics;
  readonly #logger: BalancerLogger;
  readonly #agent: http.Agent;
  readonly #proxy: ProxyPath;
  readonly #server: http.Server;
  // Insertion order is routing order: with no routes, the first group added takes everything.
  readonly #groups = new Map<string, GroupEntry>();
  #defaultRoute: GroupRoute | undefined;
  #listening: Promise<HostPort> | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: BalancerOptions) {
    super();
    const { config } = options;
    validateConfig(config);
    this.#config = config;
    this.#metrics = options.metrics;
    this.#logger = options.logger ?? silentLogger;
    this.#agent = new http.Agent({ keepAlive: true, scheduling: 'lifo', timeout: IDLE_SOCKET_TIMEOUT });
    this.#proxy = new ProxyPath({
      agent: this.#agent,
      requestTimeout: config.requestTimeout,
      logger: this.#logger,
      onClosingExchangeEnd: () => this.#server.closeIdleConnections(),
    });
    this.#server = http.createServer(this.#onRequest);
    this.#server.on('error', (err) => this.#logger.error({ err }, 'balancer server error'));
  }

  /**
   * setGroup creates or updates a group from its instances: `ready` ones receive requests, one that
   * went `draining` stops receiving new ones, vanished ones are removed (their requests in flight
   * still finish). Throws a BalancerError, changing nothing, on an invalid address.
   */
  setGroup(group: string, instances: readonly BackendInstance[], options: GroupOptions = {}): void {
    if (this.#closing !== undefined) throw new BalancerError('BALANCER_CLOSED', 'balancer is closed');
    let entry = this.#groups.get(group);
    let change: PoolChange;
    if (entry === undefined) {
      const pool = new Pool({
        drainTimeout: this.#config.drainTimeout,
        onDrainTimeout: (backend) =>
          this.#logger.warn(
            { group, backend: backend.id, inFlight: backend.inFlight },
            'drain timed out with requests in flight',
          ),
      });
      change = pool.setInstances(instances);
      const checker = new HealthChecker({
        group,
        config: this.#config.health,
        metrics: this.#metrics,
        path: options.healthPath,
      });
      checker.on('transition', this.#onHealth);
      entry = {
        route: new GroupRoute(group, pool, createPicker(this.#config.algorithm), this.#metrics),
        checker,
      };
      this.#groups.set(group, entry);
      this.#defaultRoute ??= entry.route;
    } else {
      change = entry.route.pool.setInstances(instances);
      if (options.healthPath !== undefined) entry.checker.path = options.healthPath;
    }
    for (const member of change.removed) {
      entry.checker.remove(member.id);
      this.#proxy.retire(member);
    }
    for (const member of change.added) entry.checker.add(member);
  }

  /** removeGroup forgets a group; its requests in flight still finish. Returns whether it existed. */
  removeGroup(group: string): boolean {
    const entry = this.#groups.get(group);
    if (entry === undefined) return false;
    this.#groups.delete(group);
    entry.checker.close();
    for (const member of entry.route.pool.clear().removed) this.#proxy.retire(member);
    if (this.#defaultRoute === entry.route) this.#defaultRoute = this.#groups.values().next().value?.route;
    return true;
  }

  /**
   * drain stops new requests to an instance and resolves once none of its requests is in flight,
   * or after `drainTimeout`. An unknown group or instance has nothing in flight: it resolves at once.
   */
  drain(group: string, id: string): Promise<void> {
    return this.#groups.get(group)?.route.pool.drain(id) ?? Promise.resolve();
  }

  /** stats is a point-in-time view of a group. Throws UnknownGroupError for an unknown group. */
  stats(group: string): GroupStats {
    const entry = this.#groups.get(group);
    if (entry === undefined) throw new UnknownGroupError(group);
    const { route } = entry;
    return {
      inFlight: route.inFlight,
      requests: route.requests,
      backends: route.pool.members().map((member) => member.snapshot()),
    };
  }

  /** listen starts serving on `config.listen` (port 0 picks a free port) and returns the bound address. */
  listen(): Promise<HostPort> {
    if (this.#closing !== undefined)
      return Promise.reject(new BalancerError('BALANCER_CLOSED', 'balancer is closed'));
    this.#listening ??= new Promise<HostPort>((resolve, reject) => {
      const { host, port } = this.#config.listen;
      const onError = (err: Error): void => {
        reject(
          new BalancerError('BALANCER_LISTEN_FAILED', `cannot listen on ${host}:${port}: ${err.message}`, {
            cause: err,
          }),
        );
      };
      this.#server.once('error', onError);
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError);
        const address = this.#server.address() as AddressInfo;
        resolve({ host: address.address, port: address.port });
      });
    });
    return this.#listening;
  }

  /**
   * close stops accepting connections, lets requests in flight finish (at most `drainTimeout`, then
   * cuts them), closes idle client and backend sockets and stops health checks. Safe to call twice.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    this.#proxy.closing = true;
    for (const entry of this.#groups.values()) entry.checker.close();
    await this.#listening?.catch(() => undefined);
    if (this.#server.listening) {
      await new Promise<void>((resolve) => {
        const grace = setTimeout(() => this.#server.closeAllConnections(), this.#config.drainTimeout);
        grace.unref();
        this.#server.close(() => {
          clearTimeout(grace);
          resolve();
        });
        this.#server.closeIdleConnections();
      });
    }
    this.#agent.destroy();
  }

  readonly #onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const route = this.#route(req);
    if (route === undefined) this.#proxy.noRoute(res);
    else this.#proxy.handle(route, req, res);
  };

  // The routing seam: v1 sends everything to the first group. Host/path routes replace this body.
  #route(_req: http.IncomingMessage): GroupRoute | undefined {
    return this.#defaultRoute;
  }

  readonly #onHealth = (transition: HealthTransition): void => {
    const entry = this.#groups.get(transition.group);
    if (entry === undefined) return;
    entry.route.pool.setHealthy(transition.id, transition.healthy);
    const fields = { group: transition.group, backend: transition.id, detail: transition.detail };
    if (transition.healthy) this.#logger.info(fields, 'backend healthy');
    else this.#logger.warn(fields, 'backend unhealthy');
    this.emit('health', transition);
  };
}

function validateConfig(config: BalancerConfig): void {
  createPicker(config.algorithm);
  validateHealthConfig(config.health);
  if (!Number.isFinite(config.requestTimeout) || config.requestTimeout <= 0) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `requestTimeout must be > 0 ms, got ${config.requestTimeout}`,
    );
  }
  if (!Number.isFinite(config.drainTimeout) || config.drainTimeout < 0) {
    throw new BalancerError(
      'BALANCER_INVALID_ARGUMENT',
      `drainTimeout must be >= 0 ms, got ${config.drainTimeout}`,
    );
  }
}

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, resolve } from 'node:path';
import type { Registry } from 'prom-client';
import type { Config } from '../config/index.js';
import {
  type CreateProviderOptions,
  FencedProvider,
  type Instance,
  type Provider,
} from '../providers/index.js';
import type { Controller } from './controller.js';
import type { Logger } from './group.js';
import { LeaderElector } from './leader.js';
import { Leadership } from './leadership.js';
import { connectLease, type LeaseStore } from './lease/index.js';
import { persistDecisions, restoreState } from './persist.js';
import { type StandbyGroup, StandbyRouter } from './standby-router.js';
import type { RoutedInstance } from './standby-routing.js';
import { FileState, openState, type StateStore } from './state/index.js';

/** HaStartOptions are the running parts HighAvailability drives once the app listens. */
export interface HaStartOptions {
  controller: Controller;
  registry: Registry;
  /** The control API's `host:port`, put into the holder id so a standby can say where the leader is. */
  apiAddress: string;
  /**
   * Told, synchronously, whether this controller now leads: true once the lease is won, false when
   * standing by or deposed (with a lease only; without one it always leads). Alerts follow it, so
   * only the leader notifies. @defaultValue ignored
   */
  onLeading?: (leading: boolean) => void;
  /**
   * Told once this controller leads with what runs adopted: after a takeover, or after a start
   * that restored a state store without a lease. The alerts the previous leader (or process) left
   * open are judged then. @defaultValue ignored
   */
  onLed?: () => void;
}

/**
 * HighAvailability is the controller's persistence and leader election, as `controller.state`
 * and `controller.lease` configure them; with neither it does nothing and the controller simply
 * leads. The composition root asks it for provider hooks, fenced providers, and to start and stop.
 */
export class HighAvailability {
  readonly state: StateStore | undefined;
  readonly lease: LeaseStore | undefined;
  readonly #config: Config;
  readonly #logger: Logger;
  readonly #fenced = new Map<string, FencedProvider>();
  /**
   * With a lease: a standby's balancer routes to the leader's local instances (with a state store)
   * and to the Ready instances of Kubernetes and AWS groups (seen read-only through their providers).
   */
  readonly #router: StandbyRouter | undefined;
  /** Local groups a standby routes to: their stops wait for the standbys (see drainGrace). */
  readonly #recorded = new Set<string>();
  #routingListener: ((group: string) => void) | undefined;
  /** The standby's first read of the records, applied. */
  #synced: Promise<void> = Promise.resolve();
  #leadership: Leadership | undefined;
  #unpersist: (() => Promise<void>) | undefined;
  #closed = false;

  private constructor(config: Config, logger: Logger, state?: StateStore, lease?: LeaseStore) {
    this.#config = config;
    this.#logger = logger;
    this.state = state;
    this.lease = lease;
    const groups = Object.values(config.groups).flatMap((g): StandbyGroup[] => {
      if (g.role !== 'service') return [];
      if (g.provider.provider === 'local')
        return state ? [{ name: g.name, host: g.provider.host, healthPath: g.healthPath }] : [];
      return [{ name: g.name, source: 'provider', healthPath: g.healthPath }];
    });
    for (const g of groups) if (g.source !== 'provider') this.#recorded.add(g.name);
    if (lease && groups.length > 0) {
      this.#router = new StandbyRouter({
        groups,
        ...(state && { records: state }),
        // The fenced provider: observing passes through (it only reads); every write is fenced.
        provider: (group) => this.#fenced.get(group),
        onChange: (group) => this.#routingListener?.(group),
        logger,
      });
    }
  }

  /** open connects the configured state store and lease store (rejects StateError / LeaseError). */
  static async open(config: Config, logger: Logger): Promise<HighAvailability> {
    const state = await openState(config, logger);
    let lease: LeaseStore | undefined;
    try {
      if (config.controller.lease) lease = await connectLease(config.controller.lease);
    } catch (err) {
      await state?.close();
      throw err;
    }
    return new HighAvailability(config, logger, state, lease);
  }

  /** onRoutingChange sets who is told that `routable(group, …)` changed (the composition root, which feeds the balancer). */
  onRoutingChange(listener: (group: string) => void): void {
    this.#routingListener = listener;
  }

  /**
   * routable is what the balancer should route to for `group`, given its provider's instances: as
   * given while leading; while standing by, the instances the leader recorded (local groups) or
   * the engine lists Ready (Kubernetes, AWS) that passed a health check here; during a takeover, the provider's, keeping in rotation those adopted instances the
   * standby already routed to (see StandbyRouter).
   */
  routable(group: string, instances: readonly Instance[]): readonly (Instance | RoutedInstance)[] {
    return this.#router ? this.#router.routable(group, instances) : instances;
  }

  /**
   * drainGrace is how long a leader waits, besides its own drain, before stopping an instance of
   * `group`: two standby read intervals after marking it draining, so every standby has taken it
   * out of rotation and finished its requests on it first. 0 when no standby routes to the group
   * from the records: a standby sees a Kubernetes or AWS instance go only once the engine does.
   */
  drainGrace(group: string): number {
    return this.#router && this.#recorded.has(group) ? 2 * this.#router.interval : 0;
  }

  /** leading is false only while another controller holds the lease. */
  get leading(): boolean {
    return this.lease === undefined || this.#leadership?.leading === true;
  }

  /**
   * providerOptions are a group's provider hooks: with a state store, its instance registry (local
   * instances then outlive this process and are adopted on restart or takeover, logging to files
   * next to a state file); with a lease, a fence checked before every change the provider makes on
   * its own (a local instance's start or stop, with a state store; a StatefulSet roll's writes).
   */
  providerOptions(group: string): Partial<CreateProviderOptions> {
    const fence = this.lease && {
      fence: (what: string) => this.#fenced.get(group)?.assertLeading(what) ?? Promise.resolve(),
    };
    // Without a state store, the fence still guards an engine's changes made on its own (a Kubernetes
    // StatefulSet's roll, resumed at start with no fenced call before it); local instances no
    // successor can adopt without the registry are stopped by their own controller, as before.
    if (!this.state) return this.#config.groups[group]?.provider.provider === 'local' ? {} : { ...fence };
    const logDir = this.#instanceLogDir();
    return { registry: this.state, ...(logDir !== undefined && { logDir }), ...fence };
  }

  /**
   * instanceLogDir is where local instances log: `controller.state.log_dir` (relative to the config
   * file), else next to a state file; undefined for Redis/PostgreSQL state, where the provider's
   * private default applies (it was the shared /tmp, where another user's file blocked a start).
   */
  #instanceLogDir(): string | undefined {
    const configured = this.#config.controller.state?.logDir;
    if (configured !== undefined) {
      const base = this.#config.source ? dirname(this.#config.source) : process.cwd();
      return resolve(base, configured);
    }
    return this.state instanceof FileState ? dirname(this.state.path) : undefined;
  }

  /** wrap fences a group's provider with the lease's token (with a lease; otherwise it is returned as is). */
  wrap(group: string, provider: Provider): Provider {
    if (!this.lease) return provider;
    // Past the renew deadline on the monotonic clock (e.g. resumed after a pause) is refused without
    // asking, before the watchdog's timer has run; otherwise the store decides (see Leadership.holds).
    const fenced = new FencedProvider(
      provider,
      async (token) => (await this.#leadership?.holds(token)) === true,
    );
    this.#fenced.set(group, fenced);
    return fenced;
  }

  /**
   * start brings the controller up. With a lease: campaign; the winner restores and adopts, the
   * others stand by. Without: restore the saved state (if any) and start.
   */
  async start(options: HaStartOptions): Promise<void> {
    const { controller } = options;
    const journal = controller.journal;
    if (this.state) {
      const persistence = persistDecisions(
        journal,
        this.state,
        () => this.leading,
        (err) => this.#logger.error({ err }, 'could not persist a decision to the state store'),
      );
      this.#unpersist = persistence;
      // A manual change is answered once these writes hold it (see Controller.scale).
      controller.persistWith({ backend: this.state.backend, stored: (entry) => persistence.stored(entry) });
    }
    if (!this.lease) {
      const desired = this.state ? await restoreState(this.state, journal) : {};
      await controller.start(desired);
      if (this.state) this.#led(options);
      return;
    }
    // A standby's events are the leader's decisions, as the state store holds them: the journal
    // alone (before, the whole state was read for it, desired counts too, on every call), and for
    // a live stream's polls only the entries after those it holds.
    if (this.state) controller.readLeaderJournalWith(this.state);
    const elector = new LeaderElector({
      store: this.lease,
      holder: `${hostname()}/${process.pid}/${randomBytes(3).toString('hex')}@${options.apiAddress}`,
      ttl: this.#config.controller.lease!.ttl,
    });
    this.#leadership = new Leadership({
      elector,
      lease: this.lease,
      controller,
      journal,
      state: this.state,
      providers: this.#fenced,
      registry: options.registry,
      logger: this.#logger,
      onRole: (role) => {
        try {
          options.onLeading?.(role !== 'standby');
        } catch (err) {
          this.#logger.error({ err, role }, 'leadership listener failed');
        }
        if (role === 'leading') this.#led(options);
        const router = this.#router;
        if (!router || this.#closed) return;
        if (role === 'standby')
          this.#synced = router.standBy((group) => this.#fenced.get(group)?.instances() ?? []);
        else if (role === 'takeover') router.takeOver();
        else router.lead();
      },
    });
    await this.#leadership.start();
    // A standby's balancer opens once it routes to what the leader runs (bounded by warmup_timeout).
    if (!this.leading) await this.#synced;
  }

  #led(options: HaStartOptions): void {
    try {
      options.onLed?.();
    } catch (err) {
      this.#logger.error({ err }, 'leadership listener failed');
    }
  }

  /**
   * stepDown, with a lease, stops acting and hands the instances over (left running, recorded) and
   * releases the lease so a standby takes over at once. Without a lease it does nothing: closing
   * the providers then stops the instances, as a single controller's clean shutdown should.
   */
  async stepDown(): Promise<void> {
    await this.#leadership?.close();
  }

  /** close disconnects the stores (after the providers closed: they still write the registry). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.stepDown();
    this.#router?.close();
    await this.#unpersist?.();
    await Promise.all([this.state?.close(), this.lease?.close()]);
  }
}

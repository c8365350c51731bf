import { Gauge, type Registry } from 'prom-client';
import { monotonicNow } from '../clock.js';
import type { FencedProvider } from '../providers/index.js';
import type { Controller } from './controller.js';
import type { Logger } from './group.js';
import { groupUpLine } from './group-up.js';
import type { DecisionJournal } from './journal.js';
import type { LeaderElector } from './leader.js';
import type { LeaseGrant, LeaseStore } from './lease/index.js';
import type { ControllerState, StateStore } from './state/index.js';
import { stateLoss } from './state-loss.js';

/** LeadershipOptions wires an HA controller. */
export interface LeadershipOptions {
  elector: LeaderElector;
  lease: LeaseStore;
  controller: Controller;
  journal: DecisionJournal;
  /** Where desired counts, the journal and local instances are kept; shared by every controller. */
  state: StateStore | undefined;
  /** Every group's provider, fenced with the lease's token. */
  providers: ReadonlyMap<string, FencedProvider>;
  registry: Registry;
  logger: Logger;
  /**
   * Told of each change of role, synchronously: `standby` when standing by (first campaign lost,
   * or deposed — then before the instances are handed over), `takeover` once the lease is won,
   * `leading` once the takeover adopted what runs. @defaultValue ignored
   */
  onRole?: (role: LeadershipRole) => void;
}

/** LeadershipRole is where a controller stands: see `LeadershipOptions.onRole`. */
export type LeadershipRole = 'standby' | 'takeover' | 'leading';

/**
 * Leadership turns lease events into controller roles. Elected: arm the fences with the new
 * token, restore the persisted desired counts and journal, adopt what runs, start the loop.
 * Deposed: disarm the fences and stop the loop at once (synchronously, before anything else can
 * run), then hand the instances over — they keep running for the next leader — and campaign again.
 */
export class Leadership {
  readonly #o: LeadershipOptions;
  readonly #leaderGauge: Gauge;
  readonly #tokenGauge: Gauge;
  /** Transitions run one after another: a takeover finishes before a handover starts. */
  #chain: Promise<void> = Promise.resolve();
  #grant: LeaseGrant | undefined;
  #closing = false;

  constructor(options: LeadershipOptions) {
    this.#o = options;
    this.#leaderGauge = new Gauge({
      name: 'scaleplane_leader',
      help: '1 while this controller leads (holds the lease), 0 while it stands by',
      registers: [options.registry],
    });
    this.#tokenGauge = new Gauge({
      name: 'scaleplane_leader_fencing_token',
      help: 'Fencing token of the lease this controller holds (0 while standing by)',
      registers: [options.registry],
    });
    this.#leaderGauge.set(0);
    options.elector.on('elected', (grant) => this.#enqueue(() => this.#takeOver(grant)));
    options.elector.on('deposed', (reason) => {
      if (!this.#grant) return;
      this.#disarm();
      this.#enqueue(() => this.#handOver(reason));
    });
    options.elector.on('error', (err) => options.logger.warn({ err }, `lease call failed: ${err.message}`));
    // A write the state store refused proves the lease moved on: step down now rather than at the
    // next renewal, and go on standing by (the controller must not crash on it).
    options.state?.onFenced?.((err) => {
      if (!this.#grant) return;
      options.logger.error({ err }, `stepping down: ${err.message}`);
      options.elector.depose(`a state write was refused (${err.message})`);
    });
  }

  /** leading is true from the moment the lease is won until it is lost or past its renew deadline. */
  get leading(): boolean {
    return this.grant !== undefined;
  }

  /**
   * grant is this controller's tenure while leading and within the elector's renew deadline on the
   * monotonic clock. Not only until `deposed` is handled: a process resumed after a pause (GC,
   * SIGSTOP) runs its due timers in order, and a loop tick or a local instance's start due before
   * the watchdog's runs first; it must find the tenure over, not ask the store in the lease's last
   * milliseconds and act on after them.
   */
  get grant(): LeaseGrant | undefined {
    const grant = this.#grant;
    return grant && this.#o.elector.grant?.token === grant.token ? grant : undefined;
  }

  /**
   * holds is the fence check of a provider's change under `token`: this tenure is current within
   * the renew deadline, the lease store says it is still the lease's, and the deadline has still
   * not passed once the store answered. So the change it lets through starts before the deadline,
   * a third of the ttl at least before a successor can be elected; a store that answered late (up
   * to its timeout) would otherwise let it start past the deadline.
   */
  async holds(token: number): Promise<boolean> {
    const grant = this.grant;
    if (grant?.token !== token) return false;
    if (!(await this.#o.lease.check(grant))) return false;
    return this.grant === grant;
  }

  /** start campaigns once and, if the lease was won, finishes the takeover; then keeps campaigning. */
  async start(): Promise<void> {
    this.#o.controller.standBy();
    await this.#o.elector.start();
    await this.#chain;
    if (!this.#grant) {
      this.#role('standby');
      await this.#announceStandby();
    }
  }

  /**
   * close steps down without stopping any instance: stop acting, hand the instances over, then
   * release the lease so a standby takes over at once. Safe to call twice.
   */
  async close(): Promise<void> {
    if (this.#closing) return this.#chain;
    this.#closing = true;
    const wasLeading = this.#grant !== undefined;
    if (wasLeading) this.#disarm();
    await this.#chain;
    if (wasLeading) await this.#releaseProviders();
    await this.#o.elector.close();
  }

  #enqueue(step: () => Promise<void>): void {
    this.#chain = this.#chain.then(step).catch((err: unknown) => {
      this.#o.logger.error({ err }, 'leadership transition failed');
    });
  }

  async #takeOver(grant: LeaseGrant): Promise<void> {
    // Deposed (or closing) before this turn came: nothing to take over.
    if (this.#closing || this.#o.elector.grant?.token !== grant.token) return;
    const { state, providers } = this.#o;
    this.#grant = grant;
    state?.fence?.(grant.token, grant.holder);
    for (const provider of providers.values()) provider.setToken(grant.token);
    this.#leaderGauge.set(1);
    this.#tokenGauge.set(grant.token);
    this.#role('takeover');
    try {
      await this.#lead(grant);
    } catch (err) {
      if (this.#grant !== grant) throw err;
      // Holding the lease while leading nothing would keep every standby out for good (it renews):
      // step down, give the lease up, and let the next campaign (ours or another's) try again.
      this.#o.logger.error({ err }, `takeover failed, stepping down: ${(err as Error).message}`);
      this.#o.elector.depose(`the takeover failed (${(err as Error).message})`);
      await this.#o.lease.release(grant).catch(() => {});
    }
  }

  /** lead is the takeover once the fences are armed: restore, journal, adopt and start. */
  async #lead(grant: LeaseGrant): Promise<void> {
    const { controller, journal, state } = this.#o;
    const saved: ControllerState = state ? await state.load() : { desired: {}, journal: [] };
    journal.restore(saved.journal);
    const desired = saved.desired;
    if (this.#grant !== grant) return;
    // A store that lost its data is said once, loudly, and in the journal (see stateLoss).
    const lost = state ? stateLoss(grant.token, saved) : undefined;
    if (lost !== undefined) this.#o.logger.error({ token: grant.token, holder: grant.holder }, lost);
    // Announced through the journal (one entry per group), which the app logs.
    // The journal's time base, the controller's decision clock (see journal.ts `time`).
    const now = monotonicNow();
    for (const name of controller.groupNames()) {
      const count = desired[name] ?? 0;
      journal.append(
        {
          group: name,
          source: 'leader',
          before: count,
          after: count,
          reasons: lost === undefined ? ['BecameLeader'] : ['BecameLeader', 'StateLost'],
          message: `became leader (fencing token ${grant.token}, ${grant.holder})${lost === undefined ? '' : `; ${lost}`}`,
          inputs: {
            token: grant.token,
            holder: grant.holder,
            ...(lost !== undefined && { stateLost: true }),
          },
        },
        now,
      );
    }
    await controller.start(desired);
    // Deposed while it adopted: nothing was started, nothing is up.
    if (this.#grant !== grant) return;
    this.#role('leading');
    for (const name of controller.groupNames()) {
      const { provider } = controller.group(name);
      const line = groupUpLine(name, provider.instances(), provider.desired());
      this.#o.logger[line.level](line.fields, line.message);
    }
  }

  /** disarm is the synchronous part of losing the lease: no change can be made after it returns. */
  #disarm(): void {
    this.#grant = undefined;
    this.#o.state?.fence?.(undefined);
    for (const provider of this.#o.providers.values()) provider.setToken(undefined);
    this.#o.controller.standBy();
    this.#leaderGauge.set(0);
    this.#tokenGauge.set(0);
    this.#role('standby');
  }

  #role(role: LeadershipRole): void {
    try {
      this.#o.onRole?.(role);
    } catch (err) {
      this.#o.logger.error({ err, role }, 'role change hook failed');
    }
  }

  async #handOver(reason: string): Promise<void> {
    const { controller, journal } = this.#o;
    // The journal's time base, the controller's decision clock (see journal.ts `time`).
    const now = monotonicNow();
    for (const name of controller.groupNames()) {
      const count = controller.group(name).desired();
      journal.append(
        {
          group: name,
          source: 'leader',
          before: count,
          after: count,
          reasons: ['LostLeadership'],
          message: `lost leadership: ${reason}; instances left running for the next leader`,
          inputs: { reason },
        },
        now,
      );
    }
    await this.#releaseProviders();
    if (!this.#closing) await this.#announceStandby();
  }

  async #releaseProviders(): Promise<void> {
    await Promise.all(
      [...this.#o.providers.values()].map((p) =>
        p.release().catch((err: unknown) => this.#o.logger.error({ err }, 'could not release instances')),
      ),
    );
  }

  async #announceStandby(): Promise<void> {
    let unread: Error | undefined;
    const current = await this.#o.lease.current().catch((err: Error) => {
      unread = err;
      return undefined;
    });
    if (this.#grant) return;
    this.#o.controller.standBy(current?.holder);
    // A lease that could not be read is not "no leader": say which it was.
    this.#o.logger.info(
      { leader: current?.holder, token: current?.token, ...(unread && { err: unread }) },
      current
        ? `standing by: ${current.holder} leads (fencing token ${current.token})`
        : unread
          ? `standing by: the lease could not be read (${unread.message})`
          : 'standing by: no leader yet (the lease is free or has just expired)',
    );
  }
}

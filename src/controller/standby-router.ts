import {
  formatAddress,
  type Instance,
  type LocalInstanceRegistry,
  probeHttp,
  processStartTime,
} from '../providers/index.js';
import type { Logger } from './group.js';
import {
  mergeTakeover,
  planStandbyMembership,
  type RecordedMember,
  type RoutedInstance,
} from './standby-routing.js';

/**
 * STANDBY_SYNC_INTERVAL_MS is how often a standby reads the recorded instances. One second: as
 * often as the default health check, so a standby's membership is never staler than one check, and
 * well under the lease's renew cadence (ttl/3, 2 s by default), which would double both the lag of
 * a scale-out and the grace every scale-in has to wait (`drainGrace`). The cost is one read per
 * group per second (Redis HVALS, one PostgreSQL SELECT, or one small file read).
 */
export const STANDBY_SYNC_INTERVAL_MS = 1000;

/** PROBE_TIMEOUT_MS bounds the health check a recorded instance must pass before a standby routes to it. */
const PROBE_TIMEOUT_MS = 1000;

/** StandbyGroup is a local service group a standby routes to: where its instances listen and their health path. */
export interface StandbyGroup {
  name: string;
  host: string;
  healthPath: string;
}

/** StandbyRouterOptions configures a StandbyRouter. */
export interface StandbyRouterOptions {
  groups: readonly StandbyGroup[];
  /** The recorded instances; only read (a standby never writes the state). */
  records: Pick<LocalInstanceRegistry, 'list'>;
  /** Told when a group's routable instances changed: give the balancer `routable(group, …)` again. */
  onChange: (group: string) => void;
  logger: Logger;
  /** Pause between reads while standing by, ms. @defaultValue STANDBY_SYNC_INTERVAL_MS */
  interval?: number;
  /** One health check of a recorded instance. @defaultValue GET of the health path, 2xx/3xx passes, 1 s timeout */
  probe?: (host: string, port: number, path: string) => Promise<boolean>;
  /** Whether the recorded process still runs. @defaultValue same pid with the same start time in /proc */
  alive?: (pid: number, startTime: number) => boolean;
}

type Mode = 'leading' | 'standby' | 'takeover';

/**
 * StandbyRouter lets a standby's balancer serve: while standing by it reads, every `interval`, the
 * instances the leader recorded for each local service group and routes to those that run and pass
 * one health check (from then on the balancer's own active checks decide), dropping at once those
 * the leader marks draining or no longer records. On takeover it keeps them in rotation while the
 * provider adopts the very same processes (see `mergeTakeover`); on losing the lease it starts from
 * what it routed to as leader. It never writes the state and starts or stops nothing.
 */
export class StandbyRouter {
  readonly #o: StandbyRouterOptions;
  readonly #interval: number;
  readonly #probe: (host: string, port: number, path: string) => Promise<boolean>;
  readonly #alive: (pid: number, startTime: number) => boolean;
  readonly #groups = new Map<string, StandbyGroup>();
  /** Per group, what the standby routes to (id → address). */
  readonly #views = new Map<string, Map<string, string>>();
  /** Per group, the newest read of the records, so a slow probe never brings back a drained instance. */
  readonly #latest = new Map<string, Map<string, RecordedMember>>();
  readonly #probing = new Map<string, Set<string>>();
  /** Per group, whether the last read failed (said once per failure streak). */
  readonly #failing = new Set<string>();
  #mode: Mode = 'leading';
  /** Bumped on every change of mode: reads and probes of an earlier one are dropped. */
  #epoch = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: StandbyRouterOptions) {
    this.#o = options;
    this.#interval = options.interval ?? STANDBY_SYNC_INTERVAL_MS;
    this.#probe =
      options.probe ??
      ((host, port, path) => probeHttp(host, port, path, PROBE_TIMEOUT_MS, new AbortController().signal));
    this.#alive = options.alive ?? ((pid, startTime) => processStartTime(pid) === startTime);
    for (const group of options.groups) {
      this.#groups.set(group.name, group);
      this.#views.set(group.name, new Map());
      this.#probing.set(group.name, new Set());
    }
  }

  /** interval is the pause between reads, ms. */
  get interval(): number {
    return this.#interval;
  }

  /** routes says whether this router feeds `group`'s membership (a local service group). */
  routes(group: string): boolean {
    return this.#groups.has(group);
  }

  /**
   * standBy starts reading the records; each group's view starts from what `seed` says was ready
   * (a deposed leader's instances, handed over running). Resolves once the first read is applied
   * and its health checks answered. Calling it again while standing by does nothing.
   */
  standBy(seed: (group: string) => readonly Instance[]): Promise<void> {
    if (this.#closed || this.#mode === 'standby') return Promise.resolve();
    this.#mode = 'standby';
    const epoch = ++this.#epoch;
    for (const [name, view] of this.#views) {
      for (const instance of seed(name))
        if (instance.state === 'ready') view.set(instance.id, instance.address);
      this.#o.onChange(name);
    }
    return this.#round(epoch, true);
  }

  /** takeOver stops reading; the views stay in rotation while the provider adopts. */
  takeOver(): void {
    this.#mode = 'takeover';
    this.#epoch++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** lead says adoption is done: from now on the provider alone says what is routed. */
  lead(): void {
    this.#mode = 'leading';
    this.#epoch++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (const name of this.#views.keys()) this.#o.onChange(name);
  }

  /** routable is what the balancer routes to for `group`, given the provider's instances. */
  routable(group: string, instances: readonly Instance[]): readonly RoutedInstance[] {
    const view = this.#views.get(group);
    if (view === undefined) return instances;
    if (this.#mode === 'standby') return [...view].map(([id, address]) => ({ id, address, state: 'ready' }));
    if (view.size === 0) return instances;
    const merged = mergeTakeover(instances, view, this.#mode === 'takeover');
    this.#views.set(group, new Map(merged.view));
    return merged.instances;
  }

  /** close stops reading; safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#epoch++;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #round(epoch: number, first: boolean): Promise<void> {
    const probes = await Promise.all([...this.#groups.values()].map((group) => this.#sync(group, epoch)));
    if (epoch !== this.#epoch || this.#closed) return;
    this.#timer = setTimeout(() => void this.#round(epoch, false), this.#interval);
    this.#timer.unref();
    if (first) await Promise.all(probes);
  }

  /** sync reads one group's records, applies the leaves at once and returns its joins' health checks. */
  async #sync(group: StandbyGroup, epoch: number): Promise<void> {
    let records: Awaited<ReturnType<StandbyRouterOptions['records']['list']>>;
    try {
      records = await this.#o.records.list(group.name);
    } catch (err) {
      // Keep routing as before: the balancer's health checks still take a dead instance out.
      if (!this.#failing.has(group.name))
        this.#o.logger.warn(
          { group: group.name, err },
          `standby: cannot read the recorded instances of ${group.name}; routing unchanged`,
        );
      this.#failing.add(group.name);
      return;
    }
    this.#failing.delete(group.name);
    if (epoch !== this.#epoch || this.#closed) return;
    const members = records.map((r) => ({
      id: r.id,
      address: formatAddress(group.host, r.port),
      port: r.port,
      alive: this.#alive(r.pid, r.startTime),
      draining: r.draining === true,
    }));
    this.#latest.set(group.name, new Map(members.map((m) => [m.id, m])));
    const view = this.#views.get(group.name)!;
    const plan = planStandbyMembership(members, view);
    for (const { id, reason } of plan.leave) {
      this.#o.logger.info(
        { group: group.name, instance: id, reason },
        `standby: ${id} out of rotation (${reason})`,
      );
      view.delete(id);
    }
    if (plan.leave.length > 0) this.#o.onChange(group.name);
    const probing = this.#probing.get(group.name)!;
    const joins = members.filter((m) => plan.join.includes(m) && !probing.has(m.id));
    return Promise.all(
      joins.map(async (member) => {
        probing.add(member.id);
        try {
          const passed = await this.#probe(group.host, member.port, group.healthPath);
          const latest = this.#latest.get(group.name)?.get(member.id);
          if (!passed || epoch !== this.#epoch || this.#closed) return;
          if (!latest || latest.draining || !latest.alive || latest.address !== member.address) return;
          view.set(member.id, member.address);
          this.#o.logger.info(
            { group: group.name, instance: member.id, address: member.address },
            `standby: routing to ${member.id} on ${member.address} (recorded by the leader, health check passed)`,
          );
          this.#o.onChange(group.name);
        } finally {
          probing.delete(member.id);
        }
      }),
    ).then(() => undefined);
  }
}

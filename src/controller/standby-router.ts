import {
  formatAddress,
  type Instance,
  type LocalInstanceRegistry,
  type Provider,
  probeHttp,
  processStartTime,
} from '../providers/index.js';
import type { Logger } from './group.js';
import {
  type LeaveReason,
  mergeTakeover,
  planEngineMembership,
  planStandbyMembership,
  type RoutedInstance,
} from './standby-routing.js';

/**
 * STANDBY_SYNC_INTERVAL_MS is how often a standby reads the recorded instances. One second: as
 * often as the default health check, so a standby's membership is never staler than one check, and
 * no slower than the lease's renew cadence (ttl/6, 1 s by default; it was ttl/3, 2 s, which would
 * double both the lag of a scale-out and the grace every scale-in has to wait, `drainGrace`). The cost is one read per
 * group per second (Redis HVALS, one PostgreSQL SELECT, or one small file read).
 */
export const STANDBY_SYNC_INTERVAL_MS = 1000;

/** PROBE_TIMEOUT_MS bounds the health check a recorded instance must pass before a standby routes to it. */
const PROBE_TIMEOUT_MS = 1000;

/**
 * StandbyGroup is a service group a standby routes to. `records` (the default): a local group,
 * whose instances the leader records in the state store, listening on `host`. `provider`: a
 * Kubernetes or AWS group, whose instances the standby sees through its own provider observing
 * the engine read-only (`Provider.observe`).
 */
export type StandbyGroup =
  | { name: string; source?: 'records'; host: string; healthPath: string }
  | { name: string; source: 'provider'; healthPath: string };

/** ObservedProvider is what a standby uses of a Kubernetes or AWS group's provider: a read-only watch. */
export type ObservedProvider = Pick<Provider, 'instances' | 'on' | 'off'> & { observe(): Promise<void> };

/** StandbyRouterOptions configures a StandbyRouter. */
export interface StandbyRouterOptions {
  groups: readonly StandbyGroup[];
  /** The recorded instances of `records` groups; only read (a standby never writes the state). @defaultValue none (no `records` group may be given) */
  records?: Pick<LocalInstanceRegistry, 'list'>;
  /** The provider of a `provider` group; only `observe`, `instances` and `change` are used. @defaultValue none */
  provider?: (group: string) => ObservedProvider | undefined;
  /** Told when a group's routable instances changed: give the balancer `routable(group, …)` again. */
  onChange: (group: string) => void;
  logger: Logger;
  /** Pause between reads while standing by, ms. @defaultValue STANDBY_SYNC_INTERVAL_MS */
  interval?: number;
  /** One health check of an instance before it joins. @defaultValue GET of the health path, 2xx/3xx passes, 1 s timeout */
  probe?: (host: string, port: number, path: string) => Promise<boolean>;
  /** Whether the recorded process still runs. @defaultValue same pid with the same start time in /proc */
  alive?: (pid: number, startTime: number) => boolean;
}

/** Candidate is an instance a read says may be routed to: where to probe it and route to it. */
interface Candidate {
  readonly id: string;
  readonly address: string;
  readonly host: string;
  readonly port: number;
}

/** Read is one read of a group: who joins, who leaves, and who may be routed to now (id → address). */
interface Read {
  readonly join: readonly Candidate[];
  readonly leave: readonly { readonly id: string; readonly reason: LeaveReason }[];
  readonly routable: ReadonlyMap<string, string>;
}

type Mode = 'leading' | 'standby' | 'takeover';

/**
 * StandbyRouter lets a standby's balancer serve: while standing by it reads, every `interval`, the
 * instances the leader recorded for each local service group and routes to those that run and pass
 * one health check (from then on the balancer's own active checks decide), dropping at once those
 * the leader marks draining or no longer records. For a Kubernetes or AWS group it has the group's
 * provider observe the engine read-only and routes, the same way, to its Ready pods or InService
 * instances, re-read on every change the provider reports and every `interval`; a terminating pod
 * or an instance leaving InService leaves at once. On takeover it keeps them in rotation while the
 * provider adopts the very same instances (see `mergeTakeover`); on losing the lease it starts from
 * what it routed to as leader. It never writes the state or to an engine, and starts or stops nothing.
 */
export class StandbyRouter {
  readonly #o: StandbyRouterOptions;
  readonly #interval: number;
  readonly #probe: (host: string, port: number, path: string) => Promise<boolean>;
  readonly #alive: (pid: number, startTime: number) => boolean;
  readonly #groups = new Map<string, StandbyGroup>();
  /** Per group, what the standby routes to (id → address). */
  readonly #views = new Map<string, Map<string, string>>();
  /** Per group, the newest read (id → address to route to), so a slow probe never brings back one that left. */
  readonly #latest = new Map<string, ReadonlyMap<string, string>>();
  readonly #probing = new Map<string, Set<string>>();
  /** Per group, whether the last read failed (said once per failure streak). */
  readonly #failing = new Set<string>();
  #mode: Mode = 'leading';
  /** Bumped on every change of mode: reads and probes of an earlier one are dropped. */
  #epoch = 0;
  #timer: NodeJS.Timeout | undefined;
  /** Unsubscribes from the `change` events of the `provider` groups' providers. */
  readonly #unwatch: (() => void)[] = [];
  #closed = false;

  constructor(options: StandbyRouterOptions) {
    this.#o = options;
    this.#interval = options.interval ?? STANDBY_SYNC_INTERVAL_MS;
    this.#probe =
      options.probe ??
      ((host, port, path) => probeHttp(host, port, path, PROBE_TIMEOUT_MS, new AbortController().signal));
    this.#alive = options.alive ?? ((pid, startTime) => processStartTime(pid) === startTime);
    for (const group of options.groups) {
      if (group.source !== 'provider' && !options.records)
        throw new TypeError(`standby router: local group ${group.name} needs the recorded instances`);
      this.#groups.set(group.name, group);
      this.#views.set(group.name, new Map());
      this.#probing.set(group.name, new Set());
    }
  }

  /** interval is the pause between reads, ms. */
  get interval(): number {
    return this.#interval;
  }

  /** routes says whether this router feeds `group`'s membership (a service group it was given). */
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
    this.#watchProviders();
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
    for (const unwatch of this.#unwatch.splice(0)) unwatch();
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

  /** watchProviders re-reads a `provider` group on every change its provider reports while standing by (once). */
  #watchProviders(): void {
    if (this.#unwatch.length > 0) return;
    for (const group of this.#groups.values()) {
      if (group.source !== 'provider') continue;
      const provider = this.#o.provider?.(group.name);
      if (!provider) continue;
      const onChange = () => {
        if (this.#mode !== 'standby' || this.#closed) return;
        void this.#apply(group, this.#readEngine(group.name, provider.instances()), this.#epoch);
      };
      provider.on('change', onChange);
      this.#unwatch.push(() => provider.off('change', onChange));
    }
  }

  /** sync reads one group, applies the leaves at once and returns its joins' health checks. */
  async #sync(group: StandbyGroup, epoch: number): Promise<void> {
    let read: Read;
    try {
      read = group.source === 'provider' ? await this.#observe(group.name) : await this.#readRecords(group);
    } catch (err) {
      // Keep routing as before: the balancer's health checks still take a dead instance out.
      if (!this.#failing.has(group.name))
        this.#o.logger.warn(
          { group: group.name, err },
          group.source === 'provider'
            ? `standby: cannot observe the instances of ${group.name}; routing unchanged`
            : `standby: cannot read the recorded instances of ${group.name}; routing unchanged`,
        );
      this.#failing.add(group.name);
      return;
    }
    this.#failing.delete(group.name);
    return this.#apply(group, read, epoch);
  }

  async #readRecords(group: StandbyGroup & { host: string }): Promise<Read> {
    const records = await this.#o.records!.list(group.name);
    const members = records.map((r) => ({
      id: r.id,
      address: formatAddress(group.host, r.port),
      port: r.port,
      alive: this.#alive(r.pid, r.startTime),
      draining: r.draining === true,
    }));
    const plan = planStandbyMembership(members, this.#views.get(group.name)!);
    return {
      join: plan.join.map((m) => ({ id: m.id, address: m.address, host: group.host, port: m.port })),
      leave: plan.leave,
      routable: new Map(members.filter((m) => m.alive && !m.draining).map((m) => [m.id, m.address])),
    };
  }

  /** observe has the group's provider follow the engine (read-only; once) and reads its instances. */
  async #observe(group: string): Promise<Read> {
    const provider = this.#o.provider?.(group);
    if (!provider) return this.#readEngine(group, []);
    await provider.observe();
    return this.#readEngine(group, provider.instances());
  }

  #readEngine(group: string, instances: readonly Instance[]): Read {
    const plan = planEngineMembership(instances, this.#views.get(group)!);
    const join: Candidate[] = [];
    for (const i of plan.join) {
      const at = splitAddress(i.address);
      if (at) join.push({ id: i.id, address: i.address, ...at });
    }
    return {
      join,
      leave: plan.leave,
      routable: new Map(instances.filter((i) => i.state === 'ready').map((i) => [i.id, i.address])),
    };
  }

  /** apply takes the leavers out at once and resolves once the joiners' health checks are answered. */
  async #apply(group: StandbyGroup, read: Read, epoch: number): Promise<void> {
    if (epoch !== this.#epoch || this.#closed) return;
    this.#latest.set(group.name, read.routable);
    const view = this.#views.get(group.name)!;
    for (const { id, reason } of read.leave) {
      this.#o.logger.info(
        { group: group.name, instance: id, reason },
        `standby: ${id} out of rotation (${reason})`,
      );
      view.delete(id);
    }
    if (read.leave.length > 0) this.#o.onChange(group.name);
    const probing = this.#probing.get(group.name)!;
    const joins = read.join.filter((c) => !probing.has(c.id));
    const why = group.source === 'provider' ? 'ready in its engine, read-only' : 'recorded by the leader';
    await Promise.all(
      joins.map(async (member) => {
        probing.add(member.id);
        try {
          const passed = await this.#probe(member.host, member.port, group.healthPath);
          if (!passed || epoch !== this.#epoch || this.#closed) return;
          if (this.#latest.get(group.name)?.get(member.id) !== member.address) return;
          view.set(member.id, member.address);
          this.#o.logger.info(
            { group: group.name, instance: member.id, address: member.address },
            `standby: routing to ${member.id} on ${member.address} (${why}, health check passed)`,
          );
          this.#o.onChange(group.name);
        } finally {
          probing.delete(member.id);
        }
      }),
    );
  }
}

/** splitAddress splits `host:port` or `[v6]:port` for a health check. */
function splitAddress(address: string): { host: string; port: number } | undefined {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon <= 0 || !Number.isInteger(port) || port <= 0) return undefined;
  const host = address.slice(0, colon);
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port };
}

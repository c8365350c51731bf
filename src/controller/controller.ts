import { monotonicNow } from '../clock.js';
import type { Config, MetricConfig } from '../config/index.js';
import type { InstanceSize } from '../providers/index.js';
import {
  type ControllerError,
  InProgressError,
  LimitExceededError,
  NotLeaderError,
  NotStoredError,
  StartingError,
  UnknownGroupError,
} from './errors.js';
import { type GroupController, type Logger, type ManualAction, manualTarget } from './group.js';
import { DecisionJournal, type JournalEntry, type JournalQuery } from './journal.js';
import type { JournalTail } from './journal-tail.js';

/** BackendView is what the balancer knows of one instance. */
export interface BackendView {
  id: string;
  healthy: boolean;
  draining: boolean;
  inFlight: number;
}

/** InstanceStatus is one instance as the API shows it. */
export interface InstanceStatus {
  id: string;
  address: string;
  state: string;
  /** `healthy`, `unhealthy`, or `unknown` while the balancer has not seen it. */
  health: 'healthy' | 'unhealthy' | 'unknown';
  inFlight: number;
  pid?: number;
  startedAt: string;
  readyAt?: string;
  /** The size it runs with (CPU cores, memory bytes, instance type), when the provider knows it. */
  size?: InstanceSize;
}

/**
 * MetricStatus is one scaling metric of a group: its target and the average the last decision used,
 * in `unit` (`%` of a core or of the memory limit, `bytes`, `ms`; absent: a plain count or rate).
 */
export interface MetricStatus {
  name: string;
  target: number;
  average: number | null;
  unit?: MetricUnit;
}

/** MetricUnit is what a metric's target and average are counted in. */
export type MetricUnit = '%' | 'bytes' | 'ms';

/** metricUnit is the unit of a configured metric's target: cpu and memory Utilization in %, memory AverageValue in bytes, latency in ms. */
export function metricUnit(m: MetricConfig): MetricUnit | undefined {
  if (m.type === 'cpu') return '%';
  if (m.type === 'memory') return m.targetType === 'AverageValue' ? 'bytes' : '%';
  if (m.type === 'latency') return 'ms';
  return undefined;
}

/** GroupStatus is one group as `GET /api/scalability/groups/:name` shows it. */
export interface GroupStatus {
  name: string;
  provider: string;
  desired: number;
  ready: number;
  /**
   * Ready instances the balancer has not taken out of rotation for failing health checks: `ready`
   * alone said 1/1 while the only instance answered 503 and served nothing (kubectl's READY counts
   * only pods passing their readiness probe).
   */
  serving: number;
  minInstances: number;
  maxInstances: number;
  autoscaling: boolean;
  /** Set when the engine's own autoscaler scales the group (`HorizontalPodAutoscaler shop/web`); its figures are `metrics`. */
  scaledBy?: string;
  /** Why the engine's autoscaler could not be read just now (its figures are then the read before). */
  scaledByError?: string;
  metrics: MetricStatus[];
  instances: InstanceStatus[];
  lastDecision: JournalEntry | null;
  /** Autoscaled groups: the instance start-up the policy uses. */
  startup?: StartupStatus;
}

/** StartupStatus is the start-up a group's policy uses and what was observed (ms). */
export interface StartupStatus {
  ms: number;
  /** `config` (scaling.startup), `learnt` (median of observed start-ups) or `default`. */
  source: 'config' | 'learnt' | 'default';
  /** Start→ready durations observed of instances this controller started (the last 9 kept). */
  observed: number;
  /** Their median, when any. */
  learnt?: number;
  /** How far ahead the forecast looks (start-up + controller.interval), when the policy forecasts. */
  horizon?: number;
}

/**
 * StoreWrites is how the controller finds the state store's write of a journal entry (see
 * persistDecisions): HighAvailability sets it when a state store is configured.
 */
export interface StoreWrites {
  /** The store's backend, named in errors. */
  backend: string;
  /** The write that covers `entry`, undefined when none will be made. */
  stored(entry: JournalEntry): Promise<void> | undefined;
}

/**
 * LeaderJournalReader is where a standby reads the leader's journal: the shared state store's
 * journal, whole (events, a stream's hello) or after a seq (a stream's polls).
 */
export interface LeaderJournalReader {
  loadJournal(): Promise<readonly JournalEntry[]>;
  loadJournalAfter(seq: number): Promise<JournalTail>;
}

/**
 * StoredChange is a change the controller made; `confirm` resolves once the state store holds it
 * (at once without a state store) and rejects NotStoredError when the write failed, was refused
 * (STATE_FENCED) or did not finish within `timeoutMs`. The API answers only after it resolved.
 */
export interface StoredChange {
  confirm(timeoutMs: number): Promise<void>;
}

/** ControllerOptions wires the control loop. */
export interface ControllerOptions {
  config: Config;
  groups: GroupController[];
  journal: DecisionJournal;
  backends: (group: string) => readonly BackendView[];
  logger: Logger;
  /**
   * The clock decisions run on (stabilization windows, scale events, metric windows).
   * @defaultValue monotonicNow: the wall clock at start plus monotonic time, so a step of the system
   * clock moves no window (see clock.ts)
   */
  now?: () => number;
}

/**
 * Controller runs the control loop over every group — each `interval`, metrics → policy →
 * provider — and is the one place the API and CLI ask for status or a manual scale.
 */
export class Controller {
  readonly journal: DecisionJournal;
  readonly #groups: Map<string, GroupController>;
  readonly #options: ControllerOptions;
  /** The running config; `reconfigure` replaces it (limits are read from it on every call). */
  #config: Config;
  readonly #now: () => number;
  #timer: NodeJS.Timeout | undefined;
  /** Set while another controller leads: who (if known). Changes are refused meanwhile. */
  #standby: { leader: string | undefined } | undefined;
  /** True while start() adopts running instances: changes are refused meanwhile. */
  #starting = false;
  /** Set by close(): a start still under way (an interrupted start-up) then starts nothing. */
  #closed = false;
  /** The state store's writes (with a state store): a manual change is confirmed stored by them. */
  #writes: StoreWrites | undefined;
  /** With a lease and a state store: the leader's journal, which a standby answers events from. */
  #leaderJournal: LeaderJournalReader | undefined;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#config = options.config;
    this.journal = options.journal;
    this.#groups = new Map(options.groups.map((g) => [g.name, g]));
    this.#now = options.now ?? monotonicNow;
  }

  /**
   * start brings every group to its count — `restored` (persisted desired counts), else what runs,
   * else initial_instances — and starts the loop; resolves when all are up. It also ends a standby;
   * a `standBy` while it adopts what runs ends the start there (nothing started, no loop).
   */
  async start(restored: Readonly<Record<string, number>> = {}): Promise<void> {
    // Closed (a start interrupted while the state was being restored): start nothing, and above
    // all no timer, which would keep the process from exiting.
    if (this.#closed) return;
    this.#standby = undefined;
    clearInterval(this.#timer);
    // Adopt what already runs before accepting any change: a change computed against a group that
    // has not yet found its instances would start duplicates of them.
    this.#starting = true;
    try {
      await Promise.all([...this.#groups.values()].map((g) => g.provider.start?.()));
    } finally {
      this.#starting = false;
    }
    // Stood by while adopting (a leader deposed during its takeover): the groups are not started and
    // no loop runs. Before, each group went on to journal its start and ask the (fenced) provider for
    // its count, refused, on a controller that no longer led.
    if (this.#closed || this.#standby) return;
    const startups = [...this.#groups.values()].map((g) => g.start(this.#now(), restored[g.name]));
    this.#timer = setInterval(() => this.tick(), this.#config.controller.interval);
    await Promise.all(startups);
  }

  /**
   * tick journals a count another client set on any group's engine (see followProvider), asks
   * again for a change a provider deferred (retryDeferred), then evaluates every autoscaled group once. Exposed so tests can drive the loop.
   */
  tick(): JournalEntry[] {
    const entries: JournalEntry[] = [];
    const total = this.#config.limits?.maxInstancesTotal;
    for (const group of this.#groups.values()) {
      try {
        // Earlier groups' decisions of this tick count: they are applied (desired) already.
        // A count another client set is journaled before the policy decides from it.
        const followed = group.followProvider(this.#now());
        if (followed) entries.push(followed);
        // A manual (or start's, reload's) change the provider deferred is asked again; its outcome
        // is journaled once the provider answers.
        group.retryDeferred(this.#now());
        const cap = total === undefined ? undefined : total - this.#desiredTotal() + group.desired();
        const entry = group.evaluate(this.#now(), cap);
        if (entry) entries.push(entry);
      } catch (err) {
        this.#options.logger.error({ err, group: group.name }, 'control loop failed for group');
      }
    }
    return entries;
  }

  /** group returns one group's controller or throws UnknownGroupError. */
  group(name: string): GroupController {
    const group = this.#groups.get(name);
    if (!group) throw new UnknownGroupError(name, [...this.#groups.keys()]);
    return group;
  }

  /** groupNames lists the configured groups. */
  groupNames(): string[] {
    return [...this.#groups.keys()];
  }

  /**
   * scale applies a manual action; see GroupController.scale. `stored` confirms the change reached
   * the state store (see StoredChange): the control API answers only then.
   */
  scale(
    name: string,
    action: ManualAction,
    instances: number,
    by?: string,
  ): { previous: number; desired: number; stored: StoredChange } {
    const group = this.group(name);
    this.#checkLeading();
    this.#checkLimits(group, manualTarget(action, group.desired(), instances));
    const { result, entries } = this.#journaled(() => group.scale(action, instances, this.#now(), by));
    return {
      ...result,
      stored: this.#storedChange(entries, `group "${name}": desired ${result.previous} → ${result.desired}`),
    };
  }

  /** persistWith sets where a manual change's state store write is found (undefined: no state store). */
  persistWith(writes: StoreWrites | undefined): void {
    this.#writes = writes;
  }

  /** journaled runs a change and collects the entries it journaled (synchronously, as changes do). */
  #journaled<T>(change: () => T): { result: T; entries: JournalEntry[] } {
    const entries: JournalEntry[] = [];
    const collect = (entry: JournalEntry) => entries.push(entry);
    this.journal.on('entry', collect);
    try {
      return { result: change(), entries };
    } finally {
      this.journal.off('entry', collect);
    }
  }

  /**
   * storedChange confirms the state store writes of `entries` (`what` names the change in errors)
   * and, for a resize, the write that makes its size outlive this controller (`size`: the state
   * store's, or the engine's that `size.engine` names, made with or without a state store).
   * A failed or slow state store write leaves the change in effect here, only not stored: the error
   * says so, as the in-memory change is not undone (its instances may be starting already). A fenced
   * one means this controller was deposed: it stands down, and its provider calls are refused too.
   */
  #storedChange(
    entries: readonly JournalEntry[],
    what: string,
    size?: { write: () => Promise<void>; engine?: { kind: string; write: string } },
  ): StoredChange {
    const writes = this.#writes;
    const engine = size?.engine;
    // Without a state store, only an engine's write of a resize's size outlives this controller:
    // that alone is waited for (nothing at all for any other change, as before).
    if (!writes && !engine) return { confirm: () => Promise.resolve() };
    const backend = writes?.backend ?? '';
    const stores = writes
      ? [...entries.map((e) => writes.stored(e)), ...(size && !engine ? [size.write()] : [])]
      : [];
    // A resize the provider refused (BUSY) before any write: a conflict, not a failed write.
    const inStore = Promise.all(stores.filter((w) => w !== undefined)).then(
      () => {},
      (err: unknown) => Promise.reject(inProgress(err, what) ?? notStored(err, what, backend)),
    );
    const inEngine =
      size && engine
        ? size.write().then(
            () => {},
            (err: unknown) => Promise.reject(inProgress(err, what) ?? notKept(err, what, engine)),
          )
        : Promise.resolve();
    const pending = { store: writes !== undefined, engine: engine !== undefined };
    inStore.then(
      () => (pending.store = false),
      () => {},
    );
    inEngine.then(
      () => (pending.engine = false),
      () => {},
    );
    const all = Promise.all([inStore, inEngine]).then(() => {});
    all.catch(() => {});
    return {
      confirm: (timeoutMs) =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(late(what, timeoutMs, pending, backend, engine)), timeoutMs);
          all.then(
            () => {
              clearTimeout(timer);
              resolve();
            },
            (err: unknown) => {
              clearTimeout(timer);
              reject(err);
            },
          );
        }),
    };
  }

  /** checkLimits refuses a manual change that breaks `limits` (LimitExceededError, nothing changed). */
  #checkLimits(group: GroupController, desired: number): void {
    const limits = this.#config.limits;
    const previous = group.desired();
    const step = Math.abs(desired - previous);
    if (limits?.maxStep !== undefined && step > limits.maxStep) {
      throw new LimitExceededError(
        'max_step',
        `group "${group.name}": ${previous} → ${desired} changes ${step} instances at once; at most ${limits.maxStep} per call`,
      );
    }
    const total = limits?.maxInstancesTotal;
    const after = this.#desiredTotal() - previous + desired;
    if (total !== undefined && desired > previous && after > total) {
      throw new LimitExceededError(
        'max_instances_total',
        `group "${group.name}": ${previous} → ${desired} would make ${after} instances over all groups; at most ${total}`,
      );
    }
  }

  /** desiredTotal sums the desired counts of every group. */
  #desiredTotal(): number {
    let sum = 0;
    for (const group of this.#groups.values()) sum += group.desired();
    return sum;
  }

  /**
   * resize starts a rolling resize of one group; see GroupController.resize. `stored` confirms the
   * resize outlives this controller: its journal entry reached the state store (with one) and so did
   * the size in force, for a provider that keeps it there (local), or the engine took the size
   * (Kubernetes: the PATCH of the pod template; AWS: the launch template version and group update).
   */
  resize(
    name: string,
    size: InstanceSize,
    by?: string,
  ): { desired: number; done: Promise<void>; stored: StoredChange; notKept?: string } {
    const group = this.group(name);
    this.#checkLeading();
    const { result, entries } = this.#journaled(() => group.resize(size, this.#now(), by));
    const { sizeStored, sizeWrite, notKept } = result;
    const sizeSaved = sizeStored && {
      write: sizeStored,
      ...(sizeWrite !== undefined && { engine: { kind: group.provider.kind, write: sizeWrite } }),
    };
    return {
      desired: result.desired,
      done: result.done,
      stored: this.#storedChange(entries, `group "${name}": resize`, sizeSaved),
      ...(notKept !== undefined && { notKept }),
    };
  }

  /**
   * reconfigure applies a reloaded config (see planReload): limits at once, each group's bounds and
   * policy through GroupController.reconfigure, journaled per group with what changed.
   */
  reconfigure(config: Config, detail: { by: string; changes: readonly string[] }): JournalEntry[] {
    this.#config = config;
    const now = this.#now();
    return [...this.#groups.values()].map((group) => {
      const next = config.groups[group.name] ?? group.config;
      const prefix = `groups.${group.name}.`;
      const changes = detail.changes.filter((c) => c.startsWith(prefix) || !c.startsWith('groups.'));
      // A standby (or a controller still adopting) takes the new bounds but scales nothing: the leader
      // fits its count, and this one's provider would be refused (FENCED) or count from nothing.
      // Closed (shutting down) likewise: a scale-out now would start instances the shutdown is draining.
      const apply = this.#standby === undefined && !this.#starting && !this.#closed;
      return group.reconfigure(next, now, { by: detail.by, changes, apply });
    });
  }

  /** events returns journal entries. */
  events(query: JournalQuery): JournalEntry[] {
    return this.journal.entries(query);
  }

  /** readLeaderJournalWith sets where a standby reads the leader's decisions (the shared state store). */
  readLeaderJournalWith(reader: LeaderJournalReader | undefined): void {
    this.#leaderJournal = reader;
  }

  /**
   * eventJournal is the journal `GET /api/scalability/events` answers from: this controller's own,
   * except while it stands by with a state store, when it is the leader's, read from the store on
   * each call. Before, a standby answered its own journal as if current: empty for one that never
   * led, and a deposed leader's past tenure, without any decision of the leader since.
   */
  async eventJournal(): Promise<Pick<DecisionJournal, 'entries' | 'newestSeq'>> {
    const entries = await this.readLeaderJournal();
    if (entries === undefined) return this.journal;
    const leaders = new DecisionJournal(this.journal.capacity);
    leaders.restore(entries);
    return leaders;
  }

  /**
   * followsLeader is true while this controller stands by with a state store to read the leader's
   * journal from: then its events, and its dashboard's decisions, are the leader's, not its own.
   */
  get followsLeader(): boolean {
    return this.#standby !== undefined && this.#leaderJournal !== undefined;
  }

  /**
   * readLeaderJournal reads the leader's journal from the state store, oldest first, while this
   * controller follows the leader (see followsLeader); undefined otherwise.
   */
  async readLeaderJournal(): Promise<readonly JournalEntry[] | undefined> {
    const reader = this.#leaderJournal;
    if (this.#standby === undefined || reader === undefined) return undefined;
    return reader.loadJournal();
  }

  /**
   * readLeaderJournalAfter reads the leader's journal entries after `seq` alone (see
   * StateStore.loadJournalAfter), while this controller follows the leader; undefined otherwise.
   */
  async readLeaderJournalAfter(seq: number): Promise<JournalTail | undefined> {
    const reader = this.#leaderJournal;
    if (this.#standby === undefined || reader === undefined) return undefined;
    return reader.loadJournalAfter(seq);
  }

  /**
   * readAutoscalers reads again each engine autoscaler that scales a group (Kubernetes `mode: hpa`),
   * so that `status` shows its current figures; a failed read is kept for `status` to say.
   */
  async readAutoscalers(): Promise<void> {
    await Promise.all(this.#options.groups.map((g) => g.provider.readAutoscaler?.()));
  }

  /** status describes one group: counts, bounds, instances with health and load, last decision. */
  status(name: string): GroupStatus {
    const group = this.group(name);
    const backends = new Map(this.#options.backends(name).map((b) => [b.id, b]));
    const instances = group.provider.instances().map((instance): InstanceStatus => {
      const backend = backends.get(instance.id);
      return {
        id: instance.id,
        address: instance.address,
        state: instance.state,
        health: backend ? (backend.healthy ? 'healthy' : 'unhealthy') : 'unknown',
        inFlight: backend?.inFlight ?? 0,
        ...(instance.pid !== undefined && { pid: instance.pid }),
        startedAt: new Date(instance.startedAt).toISOString(),
        ...(instance.readyAt !== undefined && { readyAt: new Date(instance.readyAt).toISOString() }),
        ...(hasSize(instance.size) && { size: instance.size }),
      };
    });
    const proposals = group.lastDecision?.proposals ?? [];
    // mode: hpa: the HPA scales and computes the figures; Scaleplane's policy stays out and has none.
    const engine = group.provider.autoscaler?.();
    return {
      name,
      provider: group.provider.kind,
      desired: group.desired(),
      ready: instances.filter((i) => i.state === 'ready').length,
      serving: instances.filter((i) => i.state === 'ready' && i.health !== 'unhealthy').length,
      minInstances: group.config.minInstances,
      maxInstances: group.config.maxInstances,
      autoscaling: engine !== undefined || group.config.scaling !== undefined,
      ...(engine && { scaledBy: engine.name }),
      ...(engine?.error !== undefined && { scaledByError: engine.error }),
      metrics: engine
        ? engine.metrics.map((m) => ({ ...m }))
        : (group.config.scaling?.metrics ?? []).map((m, index) => ({
            name: m.type,
            target: m.target,
            // The decision's proposals are in config order, one per metric: by name, a second metric of
            // a type (two `prometheus` queries) showed the first one's average. After a reload that
            // changed the metrics, one whose type now differs has no average until the next decision.
            average: proposals[index]?.name === m.type ? (proposals[index]?.average ?? null) : null,
            ...(metricUnit(m) !== undefined && { unit: metricUnit(m) }),
          })),
      instances,
      lastDecision: this.journal.last(name) ?? null,
      ...(group.policy && {
        startup: {
          ...group.startup,
          ...(group.policy.predictive && { horizon: group.policy.predictive.horizon }),
        },
      }),
    };
  }

  /**
   * standBy stops the loop and refuses changes (NotLeaderError) until the next start(): another
   * controller leads. `leader` names it, when known, for the error clients get.
   */
  standBy(leader?: string): void {
    this.#stopLoop();
    this.#standby = { leader };
  }

  /** leading is false while standing by. */
  get leading(): boolean {
    return this.#standby === undefined;
  }

  #checkLeading(): void {
    if (this.#standby) throw new NotLeaderError(this.#standby.leader);
    if (this.#starting) throw new StartingError();
  }

  /** close stops the loop (groups are stopped by their providers). Safe to call twice. */
  close(): void {
    this.#closed = true;
    this.#stopLoop();
  }

  #stopLoop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * inProgress words a change `what` that the provider refused because another operation of the
 * group runs (ProviderError BUSY, e.g. BusyError naming an instance refresh someone else started)
 * as the API's 409 (InProgressError), or undefined for any other failure. Nothing of it was made.
 */
function inProgress(err: unknown, what: string): ControllerError | undefined {
  const busy = err as { code?: unknown; message?: unknown; operation?: unknown; retryAfterMs?: unknown };
  if (busy?.code !== 'BUSY') return undefined;
  const message = typeof busy.message === 'string' ? busy.message : String(err);
  const operation = typeof busy.operation === 'string' ? busy.operation : message;
  const ms = busy.retryAfterMs;
  const retryAfterSeconds =
    typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? Math.ceil(ms / 1000) : undefined;
  return new InProgressError(
    `${what} refused: ${message}`,
    { operation, ...(retryAfterSeconds !== undefined && { retryAfterSeconds }) },
    { cause: err },
  );
}

/** notStored words a failed state store write of a change `what` for the API (NotStoredError). */
function notStored(err: unknown, what: string, backend: string): NotStoredError {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'STATE_FENCED')
    return new NotStoredError(
      `${what} not stored: the ${backend} state store refused the write (STATE_FENCED: ${message}); this controller was deposed and stands down, its provider calls are refused too, so the change does not hold: send it to the leader`,
      { inEffect: false, backend },
      { cause: err },
    );
  return new NotStoredError(
    `${what} is in effect on this controller but NOT stored in the ${backend} state store (${typeof code === 'string' ? `${code}: ` : ''}${message}): a failover before a later write stores it restores the previous value`,
    { inEffect: true, backend },
    { cause: err },
  );
}

/**
 * notKept words a resize whose size the engine never took (`engine.write`, e.g. the PATCH of the
 * pod template) for the API: the write failed, or the resize stopped before it (the engine refused
 * a read, the fence refused the call), so the resize is not in effect here either.
 */
function notKept(err: unknown, what: string, engine: { kind: string; write: string }): NotStoredError {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  // Refused by the fence: repeated here it would be refused again; the leader is who can make it.
  const next = code === 'FENCED' ? 'this controller was deposed: send it to the leader' : 'repeat it';
  return new NotStoredError(
    `${what} not stored: the resize stopped before ${engine.write} was made (${typeof code === 'string' ? `${code}: ` : ''}${message}), so it is not in effect: ${next}`,
    { inEffect: false, backend: engine.kind },
    { cause: err },
  );
}

/**
 * late words a change whose writes did not all land within `timeoutMs`, naming those still
 * `pending`: the state store's and/or the engine's write of a resize's size. It is in effect here.
 */
function late(
  what: string,
  timeoutMs: number,
  pending: { store: boolean; engine: boolean },
  backend: string,
  engine: { kind: string; write: string } | undefined,
): NotStoredError {
  if (engine && pending.engine) {
    const store = pending.store ? `, nor did the ${backend} state store confirm it` : '';
    return new NotStoredError(
      `${what} is in effect on this controller but not stored: ${engine.write} was not made within ${timeoutMs} ms (the resize runs on and makes it when it can${store}): a failover before it lands loses the resize`,
      { inEffect: true, backend: engine.kind },
    );
  }
  return new NotStoredError(
    `${what} is in effect on this controller but the ${backend} state store did not confirm it within ${timeoutMs} ms (the write is still pending): a failover before it lands restores the previous value`,
    { inEffect: true, backend },
  );
}

/** hasSize is whether `size` says anything: a pod without limits reports `{}`, which shows nothing. */
function hasSize(size: InstanceSize | undefined): size is InstanceSize {
  return (
    size !== undefined &&
    (size.cpu !== undefined || size.memory !== undefined || size.instanceType !== undefined)
  );
}

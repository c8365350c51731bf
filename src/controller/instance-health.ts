import { monotonicNow } from '../clock.js';
import type { Provider } from '../providers/index.js';
import type { Logger } from './group.js';
import type { DecisionJournal } from './journal.js';
import { type ReplacementReason, replacementDecision } from './replacement.js';

/** HealthEvent is a balancer `health` transition, as the watch needs it. */
export interface HealthEvent {
  readonly group: string;
  readonly id: string;
  readonly address: string;
  readonly healthy: boolean;
  readonly detail: string;
}

/** EjectionEvent is a balancer `ejection`, as the watch needs it. */
export interface EjectionEvent {
  readonly group: string;
  readonly id: string;
  readonly address: string;
  readonly reason: string;
  readonly duration: number;
  readonly ejections: number;
}

/** RecoveryEvent is a balancer `recovery`, as the watch needs it. */
export interface RecoveryEvent {
  readonly group: string;
  readonly id: string;
  readonly address: string;
}

/** BackendHealthView is one backend as the balancer sees it. */
export interface BackendHealthView {
  readonly id: string;
  readonly healthy: boolean;
  readonly ejected: boolean;
  readonly draining: boolean;
}

/** InstanceHealthWatchOptions wires an InstanceHealthWatch. */
export interface InstanceHealthWatchOptions {
  journal: DecisionJournal;
  /** The provider of a group, or undefined for a group the watch must leave alone. */
  provider: (group: string) => Provider | undefined;
  /** The balancer's view of a group's backends. */
  backends: (group: string) => readonly BackendHealthView[];
  /** How long an instance may fail its health checks before it is replaced, ms; 0 = never. */
  replaceAfter: number;
  /** `balancer.outlier.panic_threshold`, percent. */
  panicThreshold: number;
  /** How often replacement is considered, ms. @defaultValue 1000 */
  interval?: number;
  logger: Logger;
  /**
   * Clock of `replaceAfter` and of the journal entries, ms: the controller's, so a step of the system
   * clock neither replaces an instance early nor dates these entries apart from the decisions'.
   * @defaultValue monotonicNow
   */
  now?: () => number;
}

/**
 * InstanceHealthWatch journals what the balancer learns about instances (active health transitions,
 * outlier ejections and recoveries) and replaces, through the provider, an instance that fails its
 * health checks for longer than `replaceAfter` (local: new one ready first, then the bad one drained
 * and stopped; Kubernetes: the pod evicted; AWS: the instance marked Unhealthy), as
 * `replacementDecision` allows. A replacement that fails is tried again once the instance has failed
 * for another `replaceAfter`; meanwhile the instance stays drained (Kubernetes, AWS drain it before
 * the call), and goes back into rotation only once it passes its health checks again
 * (`Provider.returnToService`): a member re-added to the balancer takes requests before its first
 * check. Its timer does not keep a process up.
 */
export class InstanceHealthWatch {
  readonly #options: InstanceHealthWatchOptions;
  readonly #now: () => number;
  /** group → instance id → when it went unhealthy. */
  readonly #unhealthy = new Map<string, Map<string, number>>();
  readonly #replacing = new Set<string>();
  /** group → instances passing their checks again, to put back if a failed replacement drained them. */
  readonly #returning = new Map<string, Set<string>>();
  /** The last hold journaled per group, so a held replacement is said once, not every tick. */
  readonly #held = new Map<string, ReplacementReason>();
  #timer: NodeJS.Timeout | undefined;

  constructor(options: InstanceHealthWatchOptions) {
    this.#options = options;
    this.#now = options.now ?? monotonicNow;
  }

  /** start considers replacements every `interval`. Safe to call twice. */
  start(): void {
    this.#timer ??= setInterval(() => this.tick(), this.#options.interval ?? 1000);
    this.#timer.unref();
  }

  /** close stops the timer; replacements already running finish. Safe to call twice. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** onHealth journals an active health transition and starts or stops its replacement clock. */
  onHealth(event: HealthEvent): void {
    const now = this.#now();
    let failing = this.#unhealthy.get(event.group);
    if (event.healthy) {
      failing?.delete(event.id);
      this.#returnToService(event.group, event.id);
    } else {
      this.#returning.get(event.group)?.delete(event.id);
      if (failing === undefined) {
        failing = new Map();
        this.#unhealthy.set(event.group, failing);
      }
      if (!failing.has(event.id)) failing.set(event.id, now);
    }
    const replaceAfter = this.#options.replaceAfter;
    this.#append(
      event.group,
      event.healthy ? 'InstanceHealthy' : 'InstanceUnhealthy',
      event.healthy
        ? `${event.id} (${event.address}) passes its health check again: back in rotation`
        : `${event.id} (${event.address}) failed its health check (${event.detail}): out of rotation` +
            (replaceAfter > 0 ? `, replaced if it still fails in ${replaceAfter / 1000}s` : ''),
      { instance: event.id, address: event.address, detail: event.detail },
      now,
    );
  }

  /** onEjection journals an outlier ejection. */
  onEjection(event: EjectionEvent): void {
    this.#append(
      event.group,
      'OutlierEjected',
      `${event.id} (${event.address}) ejected for ${event.duration / 1000}s after ${event.reason} (ejection ${event.ejections})`,
      {
        instance: event.id,
        address: event.address,
        trip: event.reason,
        durationMs: event.duration,
        ejections: event.ejections,
      },
      this.#now(),
    );
  }

  /** onRecovery journals an ejected instance's return. */
  onRecovery(event: RecoveryEvent): void {
    this.#append(
      event.group,
      'OutlierRecovered',
      `${event.id} (${event.address}) back in rotation after its ejection`,
      { instance: event.id, address: event.address },
      this.#now(),
    );
  }

  /** tick replaces what is due for replacement. Exposed so tests can drive it. */
  tick(): void {
    const now = this.#now();
    for (const [group, ids] of this.#returning) for (const id of ids) this.#returnToService(group, id);
    for (const [group, failing] of this.#unhealthy) {
      const provider = this.#options.provider(group);
      if (provider === undefined) continue;
      const serving = new Set(
        provider
          .instances()
          .filter((i) => i.state === 'ready')
          .map((i) => i.id),
      );
      for (const id of failing.keys()) if (!serving.has(id)) failing.delete(id);
      if (failing.size === 0) {
        this.#held.delete(group);
        continue;
      }
      const backends = this.#options.backends(group).filter((b) => !b.draining);
      const usable = backends.filter((b) => b.healthy && !b.ejected).length;
      // The instance failing longest goes first.
      const [id, since] = [...failing].sort((a, b) => a[1] - b[1])[0]!;
      const decision = replacementDecision({
        unhealthySince: since,
        now,
        replaceAfter: this.#options.replaceAfter,
        total: backends.length,
        usable,
        panicThreshold: this.#options.panicThreshold,
        replacing: this.#replacing.has(group),
        canReplace: provider.replace !== undefined,
      });
      if (decision.replace) this.#replace(group, provider, id, now - since, now);
      else if (decision.reason === 'HeldPanic' || decision.reason === 'ReplaceUnsupported')
        this.#hold(group, decision.reason, { instance: id, usable, total: backends.length }, now);
      else if (decision.reason !== 'ReplacementInProgress') this.#held.delete(group);
    }
  }

  #replace(group: string, provider: Provider, id: string, failingMs: number, now: number): void {
    this.#held.delete(group);
    this.#replacing.add(group);
    this.#append(
      group,
      'ReplaceUnhealthy',
      `${id} failed its health checks for ${Math.round(failingMs / 1000)}s: replacing it through the ${provider.kind} provider`,
      { instance: id, failingMs, provider: provider.kind },
      now,
    );
    provider.replace!(id)
      .then(
        (result) => {
          this.#unhealthy.get(group)?.delete(id);
          this.#append(
            group,
            'Replaced',
            `${id} replaced: ${result.detail}`,
            { instance: id, method: result.method },
            this.#now(),
          );
        },
        (err: Error & { code?: string }) => {
          // Still failing: its clock starts again, so it is tried again after another replace_after
          // (a PodDisruptionBudget or a busy group may allow it by then), not on every tick.
          const failing = this.#unhealthy.get(group);
          const again = failing?.has(id) === true;
          if (again) failing!.set(id, this.#now());
          // It passed its checks (or left) while this replacement ran: if that drained it, put it back.
          else this.#returnToService(group, id);
          this.#options.logger.error({ err, group, instance: id }, `replacing ${id} failed`);
          this.#append(
            group,
            'ReplaceFailed',
            `replacing ${id} failed: ${err.message}` +
              (again ? `; tried again if it still fails in ${this.#options.replaceAfter / 1000}s` : ''),
            { instance: id, code: err.code ?? null },
            this.#now(),
          );
        },
      )
      .finally(() => this.#replacing.delete(group));
  }

  /**
   * returnToService asks the provider to put back instance `id`, passing its checks again, if a
   * replacement that failed left it drained. A provider that cannot tell yet (a failed read) is
   * asked again on the next tick, unless the instance fails again first.
   */
  #returnToService(group: string, id: string): void {
    const provider = this.#options.provider(group);
    const returning = this.#returning.get(group);
    returning?.delete(id);
    if (returning?.size === 0) this.#returning.delete(group);
    if (provider?.returnToService === undefined) return;
    provider.returnToService(id).then(
      (returned) => {
        if (!returned) return;
        this.#append(
          group,
          'ReturnedToService',
          `${id} passes its health checks again, after its replacement failed: back in rotation`,
          { instance: id },
          this.#now(),
        );
      },
      (err: Error) => {
        if (this.#unhealthy.get(group)?.has(id)) return;
        let ids = this.#returning.get(group);
        if (ids === undefined) {
          ids = new Set();
          this.#returning.set(group, ids);
        }
        ids.add(id);
        this.#options.logger.warn(
          { err, group, instance: id },
          `${id} passes its health checks again but could not be put back in rotation yet; trying again`,
        );
      },
    );
  }

  #hold(group: string, reason: ReplacementReason, inputs: Record<string, unknown>, now: number): void {
    if (this.#held.get(group) === reason) return;
    this.#held.set(group, reason);
    const message =
      reason === 'HeldPanic'
        ? `${inputs.instance} fails its health checks but only ${inputs.usable} of ${inputs.total} instances are usable: not replacing (most likely a shared dependency is down, not the instance)`
        : `${inputs.instance} fails its health checks, but the provider cannot replace an instance`;
    this.#append(group, reason, message, inputs, now);
  }

  #append(
    group: string,
    reason: string,
    message: string,
    inputs: Record<string, unknown>,
    now: number,
  ): void {
    const desired = this.#options.provider(group)?.desired() ?? 0;
    this.#options.journal.append(
      { group, source: 'health', before: desired, after: desired, reasons: [reason], message, inputs },
      now,
    );
  }
}

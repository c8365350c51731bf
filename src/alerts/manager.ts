import { EventEmitter } from 'node:events';
import { monotonicNow } from '../clock.js';
import type { InheritVerdict } from './inherit.js';
import type { Alert, AlertInput, AlertSink } from './types.js';

/** AlertLogger is the slice of pino the manager writes to. */
export interface AlertLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** AlertManagerOptions configures an AlertManager. */
export interface AlertManagerOptions {
  /** Where notifications go. @defaultValue [] (alerts are only logged) */
  sinks?: readonly AlertSink[];
  /**
   * Firing notifications per minute across all keys; more are held (and counted) and sent, most
   * severe first, as the minute frees room, if still firing then. Resolves are never held.
   * @defaultValue 30
   */
  rateLimitPerMinute?: number;
  /** A still-firing alert is sent again after this long; 0 never repeats. @defaultValue 14400000 (4 h) */
  repeatInterval?: number;
  /**
   * Whether notifications go to the sinks now; `setNotifying` changes it (an HA standby holds them,
   * see `setNotifying`). @defaultValue true
   */
  notifying?: boolean;
  /**
   * The clock of the rate limit's minute and `repeatInterval`. @defaultValue monotonicNow, the
   * decision clock (clock.ts): with Date.now, a step of the system clock moved them (as Go's
   * monotonic time.Now, which Alertmanager's waits run on, does not): after a step back of 1 h an
   * alert sent just before was repeated an hour late, and a full minute held new firings an hour.
   */
  now?: () => number;
  /** The clock of `startsAt` and `endsAt`. @defaultValue `now` when given, else Date.now */
  wallNow?: () => number;
  /**
   * How long an alert keeps firing after its condition cleared, ms (Prometheus' `keep_firing_for`):
   * a condition that comes back within it continues the same alert, so a flapping one (a health
   * check that fails every other minute, a group at its maximum every other decision) sends one
   * firing and, once it stays clear this long, one resolve, not a pair each time. 0 resolves at once.
   * @defaultValue 0
   */
  keepFiringFor?: number;
  /** @defaultValue no logging */
  logger?: AlertLogger;
  /**
   * How long `close()` waits for deliveries still under way (a sink retrying a receiver that is
   * down or rate-limiting, each Retry-After up to 10 s), ms; what is still undelivered then is
   * left, and logged. @defaultValue 10000
   */
  closeFlushTimeout?: number;
}

/** AlertManagerEvents: `alert` for every notification handed to the sinks, `sinkError` when a sink gave up. */
export interface AlertManagerEvents {
  alert: [alert: Alert];
  /**
   * A firing or resolve of an alert shared by the controllers (not `local`) went to the sinks: what
   * the receivers now show. With a lease the leader keeps it in the state store, so that its
   * successor can resolve what it left open (see `inherit`).
   */
  notified: [alert: Alert];
  sinkError: [error: Error, sink: string, alert: Alert];
}

interface Active {
  alert: Alert;
  /** Whether a firing notification went out, so that its resolve must go out too. */
  notified: boolean;
  lastSent: number;
  /** Sent whether or not this controller leads (`AlertInput.local`). */
  local: boolean;
  /** Forgotten when this controller stops leading (`AlertInput.leaderOnly`). */
  leaderOnly: boolean;
  /**
   * Sinks a reload added after this firing went out, still waiting for it (the rate limit held it):
   * they get it alone, and no resolve before it.
   */
  owed?: Set<AlertSink>;
  /** An inherited alert's pending resolve (see `inherit`), cancelled if it fires here. */
  unlessFired?: NodeJS.Timeout;
  /** Its condition cleared: resolved when this runs out (`keepFiringFor`), unless it fires again first. */
  clearing?: { timer: NodeJS.Timeout; summary: string | undefined };
}

/** ResolveOptions: `immediately` skips `keepFiringFor` (a notice, an instance that is gone). */
export interface ResolveOptions {
  immediately?: boolean;
}

const silent: AlertLogger = { info() {}, warn() {}, error() {} };

/**
 * AlertManager turns conditions into notifications: `fire(key, …)` while a condition holds (called
 * as often as the caller likes; repeats are de-duplicated), `resolve(key)` once it clears (sends a
 * resolve if the firing was sent). Firing notifications are rate-limited across keys. Sinks are
 * called in the background; their failures are logged and emitted as `sinkError`, never thrown.
 */
export class AlertManager extends EventEmitter<AlertManagerEvents> {
  #sinks: readonly AlertSink[];
  #limit: number;
  #repeat: number;
  #keepFiringFor: number;
  readonly #now: () => number;
  readonly #wallNow: () => number;
  readonly #logger: AlertLogger;
  readonly #closeFlushTimeout: number;
  readonly #active = new Map<string, Active>();
  readonly #sent: number[] = [];
  readonly #pending = new Set<Promise<void>>();
  /** Per sink, the last delivery of each key still under way: the next one of that key waits for it. */
  readonly #tails = new WeakMap<AlertSink, Map<string, Promise<void>>>();
  #suppressed = 0;
  /** Set while firings held by the rate limit wait for room in the minute. */
  #heldTimer: NodeJS.Timeout | undefined;
  /** Set while an alert that was sent fires on: wakes when the first is due again (`repeatInterval`). */
  #repeatTimer: NodeJS.Timeout | undefined;
  #notifying: boolean;
  /**
   * Keys this manager sent a resolve of since it began to send (took over), until `inherit` has
   * read what the previous leader left open. That read is the state store's, and it may predate
   * the resolve: the store drops the key only once the resolve's write lands (see keepOpenAlerts),
   * and a takeover's read may be in flight across it. Taken as still open, an alert already closed
   * here was inherited again and resolved a second time (two resolves at the receiver).
   */
  #resolvedThisTenure: Set<string> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: AlertManagerOptions = {}) {
    super();
    this.#sinks = options.sinks ?? [];
    this.#limit = options.rateLimitPerMinute ?? 30;
    this.#repeat = options.repeatInterval ?? 4 * 3600_000;
    this.#keepFiringFor = options.keepFiringFor ?? 0;
    this.#now = options.now ?? monotonicNow;
    this.#wallNow = options.wallNow ?? options.now ?? (() => Date.now());
    this.#logger = options.logger ?? silent;
    this.#notifying = options.notifying ?? true;
    if (this.#notifying) this.#resolvedThisTenure = new Set();
    this.#closeFlushTimeout = options.closeFlushTimeout ?? 10_000;
  }

  /** notifying says whether notifications go to the sinks (false while an HA controller stands by). */
  get notifying(): boolean {
    return this.#notifying;
  }

  /**
   * setNotifying turns sending on or off; alerts are tracked either way. With a lease only the
   * leader sends, or a receiver would get one notification per controller. Off (standing by, or
   * deposed): firings, repeats and resolves are tracked but not sent, and use no rate limit. On
   * (the lease won): each alert still firing is sent now, once, so one that the old leader never
   * sent (it died first, or it fired in the gap) is not lost; one it did send arrives a second
   * time, once, and its resolve then comes from the new leader. Turning it off forgets the alerts
   * only a leader evaluates (`AlertInput.leaderOnly`): the next leader inherits them.
   */
  setNotifying(enabled: boolean): void {
    if (this.#notifying === enabled) return;
    this.#notifying = enabled;
    this.#resolvedThisTenure = enabled ? new Set() : undefined;
    if (!enabled) {
      for (const [key, entry] of this.#active) {
        if (entry.local) continue;
        if (entry.leaderOnly) {
          // Nothing here evaluates it any more, so nothing here would resolve it: kept, it was sent
          // firing again when this controller next led, long after its successor resolved it.
          clearTimeout(entry.unlessFired);
          clearTimeout(entry.clearing?.timer);
          this.#active.delete(key);
          this.#logger.info({ alert: key }, 'alert left to the next leader: only a leader evaluates it');
          continue;
        }
        // What this manager sent while it led may have been resolved since by another leader: the
        // next tenure sends it again rather than assume the receiver still shows it firing.
        entry.notified = false;
        delete entry.owed;
      }
      this.#scheduleRepeat();
      return;
    }
    if (this.#closed) return;
    const now = this.#now();
    for (const [key, entry] of this.#active) {
      if (entry.local || entry.notified || !this.#allow(now, key)) continue;
      this.#send(entry, now);
    }
    this.#scheduleRepeat();
  }

  /** #send hands `entry`'s firing to every sink (first, again, or after a hold): none is owed it any more. */
  #send(entry: Active, now: number): void {
    entry.notified = true;
    entry.lastSent = now;
    delete entry.owed;
    this.#dispatch(entry.alert);
    if (!entry.local) this.emit('notified', entry.alert);
  }

  /** #sends says whether `entry`'s notifications go out now. */
  #sends(entry: Active): boolean {
    return this.#notifying || entry.local;
  }

  /** sinks lists the configured sinks (a reload keeps those whose config did not change). */
  get sinks(): readonly AlertSink[] {
    return this.#sinks;
  }

  /** sinkNames names the configured sinks. */
  get sinkNames(): string[] {
    return this.#sinks.map((s) => s.name);
  }

  /** suppressed counts firing notifications dropped by the rate limit. */
  get suppressed(): number {
    return this.#suppressed;
  }

  /** active lists the alerts currently firing, oldest first. */
  active(): Alert[] {
    return [...this.#active.values()].map((a) => ({ ...a.alert }));
  }

  /** isFiring says whether `key` is firing. */
  isFiring(key: string): boolean {
    return this.#active.has(key);
  }

  /**
   * fire raises (or re-asserts) the alert `key`. The first call notifies; later calls while it
   * fires only count occurrences and refresh the details, unless `repeatInterval` has passed.
   */
  fire(key: string, input: AlertInput): Alert | undefined {
    if (this.#closed) return undefined;
    const now = this.#now();
    const existing = this.#active.get(key);
    if (existing) {
      // Inherited and firing here too: it still holds, and closes by its own resolve.
      clearTimeout(existing.unlessFired);
      existing.unlessFired = undefined;
      if (existing.clearing) {
        // Back within keep_firing_for: the same alert goes on (no second firing).
        clearTimeout(existing.clearing.timer);
        existing.clearing = undefined;
        this.#logger.info({ alert: key, group: existing.alert.group }, 'alert condition back: still firing');
      }
      existing.leaderOnly = input.leaderOnly === true;
      existing.alert = {
        ...existing.alert,
        summary: input.summary,
        severity: input.severity ?? existing.alert.severity,
        details: input.details ?? existing.alert.details,
        occurrences: existing.alert.occurrences + 1,
      };
      const due = !existing.notified || (this.#repeat > 0 && now - existing.lastSent >= this.#repeat);
      if (due && this.#sends(existing) && this.#allow(now, key)) {
        this.#send(existing, now);
        this.#scheduleRepeat();
      }
      return existing.alert;
    }
    const alert: Alert = {
      key,
      status: 'firing',
      severity: input.severity ?? 'warning',
      summary: input.summary,
      ...(input.group !== undefined && { group: input.group }),
      details: input.details ?? {},
      startsAt: new Date(this.#wallNow()).toISOString(),
      occurrences: 1,
      source: 'scaleplane',
    };
    const entry: Active = {
      alert,
      notified: false,
      lastSent: now,
      local: input.local === true,
      leaderOnly: input.leaderOnly === true,
    };
    this.#active.set(key, entry);
    this.#logger.warn(
      { alert: key, group: alert.group, severity: alert.severity, notifying: this.#notifying },
      `alert: ${alert.summary}`,
    );
    if (this.#sends(entry) && this.#allow(now, key)) {
      this.#send(entry, now);
      this.#scheduleRepeat();
    }
    return alert;
  }

  /**
   * resolve says `key`'s condition cleared. With `keepFiringFor`, it keeps firing that long and is
   * resolved then, unless it fires again meanwhile (returns undefined until then); otherwise, or
   * `immediately`, it is cleared now. A resolve is sent if its firing was sent (and sending is on).
   * A key that is not firing is ignored.
   */
  resolve(key: string, summary?: string, options: ResolveOptions = {}): Alert | undefined {
    if (this.#closed) return undefined;
    const entry = this.#active.get(key);
    if (!entry) return undefined;
    if (this.#keepFiringFor > 0 && options.immediately !== true) {
      if (entry.clearing) {
        entry.clearing.summary = summary;
        return undefined;
      }
      const timer = setTimeout(() => {
        if (this.#active.get(key) === entry) this.#clear(key, entry, entry.clearing?.summary);
      }, this.#keepFiringFor);
      timer.unref();
      entry.clearing = { timer, summary };
      this.#logger.info(
        { alert: key, group: entry.alert.group, keepFiringFor: this.#keepFiringFor },
        `alert condition cleared; kept firing ${this.#keepFiringFor} ms (keep_firing_for) before it is resolved`,
      );
      return undefined;
    }
    return this.#clear(key, entry, summary);
  }

  /** #clear ends `entry`: dropped from the firing alerts, its resolve sent where its firing went. */
  #clear(key: string, entry: Active, summary: string | undefined): Alert {
    this.#active.delete(key);
    clearTimeout(entry.unlessFired);
    clearTimeout(entry.clearing?.timer);
    entry.clearing = undefined;
    const alert: Alert = {
      ...entry.alert,
      status: 'resolved',
      summary: summary ?? entry.alert.summary,
      endsAt: new Date(this.#wallNow()).toISOString(),
    };
    this.#logger.info({ alert: key, group: alert.group }, `alert resolved: ${alert.summary}`);
    // A standby leaves the resolve to the leader, which sent (or, taking over, re-sent) the firing.
    // A sink still owed the firing gets no resolve either: it never showed the alert firing.
    if (entry.notified && this.#sends(entry)) {
      this.#dispatch(alert, entry.owed);
      if (!entry.local) {
        this.emit('notified', alert);
        this.#rememberResolved(key);
      }
    }
    this.#scheduleRepeat();
    return alert;
  }

  /**
   * #rememberResolved notes a resolve sent this tenure for `inherit`. Bounded: a controller with no
   * state store never inherits, and would otherwise keep every key it ever resolved.
   */
  #rememberResolved(key: string): void {
    const resolved = this.#resolvedThisTenure;
    if (!resolved) return;
    resolved.delete(key);
    resolved.add(key);
    if (resolved.size > 1024) resolved.delete(resolved.values().next().value!);
  }

  /**
   * inherit takes over `open`: alerts a previous leader (or this controller before a restart) sent
   * as firing and never resolved, as the state store kept them. The receivers show each as firing,
   * and only a controller that sends notifications can close it: before, a new leader that had not
   * seen one fire itself (a crash loop or a group held at max, which only the leader evaluates)
   * never sent its resolve, and the receivers kept it open for good. An alert firing here too is
   * this controller's already. Each other one becomes firing here, as sent (no second firing), and
   * `judge`, which re-derives it from this controller's facts, says whether it still holds:
   * `undefined` keeps it (its condition's own resolve closes it later, as for one fired here), a
   * summary resolves it now, `unlessFiredWithin` resolves it then unless it fires here before
   * (`fire` on the key cancels that: it still holds). Only while notifying (leading): a standby
   * leaves it to the leader. One this controller resolved at the receivers since it took over is
   * closed already, whatever the (older) read says.
   */
  inherit(open: readonly Alert[], judge: (alert: Alert) => InheritVerdict): void {
    if (this.#closed || !this.#notifying) return;
    const resolvedHere = this.#resolvedThisTenure ?? new Set<string>();
    this.#resolvedThisTenure = undefined;
    const now = this.#now();
    for (const inherited of open) {
      if (inherited.status !== 'firing' || this.#active.has(inherited.key) || resolvedHere.has(inherited.key))
        continue;
      const alert: Alert = { ...inherited, details: { ...inherited.details } };
      const entry: Active = { alert, notified: true, lastSent: now, local: false, leaderOnly: false };
      this.#active.set(alert.key, entry);
      const verdict = judge(alert);
      // Kept to be closed by its condition's own resolve: one only a leader evaluates.
      entry.leaderOnly = verdict === undefined;
      const fields = { alert: alert.key, group: alert.group };
      if (verdict === undefined) {
        this.#logger.info(
          { ...fields, resolved: false },
          `alert inherited from the previous leader, still firing: ${alert.summary}`,
        );
      } else if (typeof verdict === 'string') {
        this.#logger.info(
          { ...fields, resolved: true },
          `alert inherited from the previous leader no longer holds: ${verdict}`,
        );
        this.resolve(alert.key, verdict, { immediately: true });
      } else {
        this.#logger.info(
          { ...fields, resolved: false, unlessFiredWithin: verdict.unlessFiredWithin },
          `alert inherited from the previous leader, resolved in ${verdict.unlessFiredWithin} ms unless it fires here: ${alert.summary}`,
        );
        entry.unlessFired = setTimeout(() => {
          if (this.#active.get(alert.key) === entry)
            this.resolve(alert.key, verdict.summary, { immediately: true });
        }, verdict.unlessFiredWithin);
        entry.unlessFired.unref();
      }
    }
    this.#scheduleRepeat();
  }

  /** resolveWhere resolves every firing key the predicate accepts (e.g. alerts of instances that are gone). */
  resolveWhere(
    predicate: (key: string, alert: Alert) => boolean,
    summary?: string,
    options: ResolveOptions = {},
  ): void {
    for (const [key, entry] of [...this.#active])
      if (predicate(key, entry.alert)) this.resolve(key, summary, options);
  }

  /** flush resolves once every notification handed to a sink so far has been delivered or given up on. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  /**
   * reconfigure swaps the sinks and limits (a config reload); alerts firing stay firing. It returns
   * at once: the old sinks finish their deliveries in flight (retries included) and are closed in
   * the background, which `flush` and `close` wait for. Before, it waited for them, so a reload
   * (the usual fix for a sink that is down) hung for as long as the old sink's retries lasted
   * (each attempt up to its `timeout`), and the API tokens, bounds and limits of that reload with it.
   *
   * A sink the reload adds (not in the old list: the same object is a kept sink) gets each alert
   * still firing whose firing went out, once, within the rate limit (one held waits for room, as a
   * takeover's re-send does); a kept sink gets nothing extra. Before, the new sink got only the
   * later resolves of those alerts: a resolve for a firing it never saw.
   */
  reconfigure(
    options: Pick<AlertManagerOptions, 'sinks' | 'rateLimitPerMinute' | 'repeatInterval' | 'keepFiringFor'>,
  ): Promise<void> {
    const old = this.#sinks;
    this.#sinks = options.sinks ?? [];
    this.#limit = options.rateLimitPerMinute ?? 30;
    this.#repeat = options.repeatInterval ?? 4 * 3600_000;
    // Alerts already clearing keep the wait they started with.
    this.#keepFiringFor = options.keepFiringFor ?? 0;
    this.#catchUp(this.#sinks.filter((s) => !old.includes(s)));
    this.#scheduleRepeat();
    const inFlight = [...this.#pending];
    const retired = Promise.allSettled(inFlight)
      .then(() => Promise.allSettled(old.filter((s) => !this.#sinks.includes(s)).map((s) => s.close?.())))
      .then(() => undefined);
    this.#pending.add(retired);
    void retired.finally(() => this.#pending.delete(retired));
    return Promise.resolve();
  }

  /**
   * #catchUp sends each alert still firing, whose firing went out, to the sinks a reload `added`,
   * most severe first, while the minute has room; the rest wait in `owed` for the held timer. A
   * sink the reload removed is owed nothing any more.
   */
  #catchUp(added: readonly AlertSink[]): void {
    if (this.#closed) return;
    const now = this.#now();
    for (const entry of this.#byRank([...this.#active.values()])) {
      const owed = [...(entry.owed ?? []), ...added].filter((s) => this.#sinks.includes(s));
      delete entry.owed;
      if (owed.length === 0 || !entry.notified || !this.#sends(entry)) continue;
      entry.owed = new Set(owed);
      if (!this.#allow(now, entry.alert.key)) continue;
      this.#logger.info(
        { alert: entry.alert.key, sinks: owed.length },
        'alert still firing: sent to a sink the reload added',
      );
      delete entry.owed;
      this.#dispatch(entry.alert, undefined, owed);
    }
  }

  /** #byRank orders entries most severe first (stable: oldest first within a severity). */
  #byRank(entries: Active[]): Active[] {
    const rank = { critical: 0, warning: 1, info: 2 } as const;
    return entries.sort((a, b) => rank[a.alert.severity] - rank[b.alert.severity]);
  }

  /** close stops taking alerts, waits for deliveries in flight, and closes the sinks. Safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      clearTimeout(this.#heldTimer);
      clearTimeout(this.#repeatTimer);
      for (const entry of this.#active.values()) {
        clearTimeout(entry.unlessFired);
        clearTimeout(entry.clearing?.timer);
      }
      // Bounded: a receiver rate-limiting with Retry-After held a shutdown ~50 s (3 retries of up
      // to 10 s, each request up to its timeout), past a Kubernetes pod's 30 s grace.
      let timer: NodeJS.Timeout | undefined;
      const flushed = await Promise.race([
        this.flush().then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), this.#closeFlushTimeout);
        }),
      ]);
      clearTimeout(timer);
      if (!flushed)
        this.#logger.warn(
          { undelivered: this.#pending.size, waitedMs: this.#closeFlushTimeout },
          `alerts: ${this.#pending.size} notification(s) still being delivered after ${this.#closeFlushTimeout} ms at shutdown (a sink retrying: its receiver down or rate-limiting); left undelivered`,
        );
      await Promise.allSettled(this.#sinks.map((s) => s.close?.()));
    })();
    return this.#closed;
  }

  #allow(now: number, key: string): boolean {
    if (!this.#room(now)) {
      this.#suppressed++;
      this.#logger.warn(
        { alert: key, limit: this.#limit },
        'alert held: rate limit reached; sent once the minute has room if still firing',
      );
      this.#holdUntilRoom(now);
      return false;
    }
    this.#sent.push(now);
    return true;
  }

  /** #room says whether one more firing fits in the last minute's rate limit. */
  #room(now: number): boolean {
    while (this.#sent.length > 0 && now - this.#sent[0]! >= 60_000) this.#sent.shift();
    return this.#sent.length < this.#limit;
  }

  /**
   * #holdUntilRoom wakes when the oldest firing of the minute leaves it. A firing the limit refused
   * used to be sent only if its caller fired it again; most fire once (a crash loop, a failing
   * metric source, an unhealthy instance, a group held at max), so a critical alert that came after
   * a burst of 30 warnings was never sent while it fired, for hours.
   */
  #holdUntilRoom(now: number): void {
    if (this.#heldTimer !== undefined || this.#closed || this.#sent.length === 0) return;
    const wait = Math.max(0, this.#sent[0]! + 60_000 - now);
    this.#heldTimer = setTimeout(() => {
      this.#heldTimer = undefined;
      this.#sendDue();
    }, wait);
    this.#heldTimer.unref();
  }

  /** #due says whether `entry` is to be sent now: never sent yet (held), or sent `repeatInterval` ago. */
  #due(entry: Active, now: number): boolean {
    if (!this.#sends(entry)) return false;
    return !entry.notified || (this.#repeat > 0 && now - entry.lastSent >= this.#repeat);
  }

  /** #owedOnly says whether `entry` is due only to sinks a reload added (its firing went out to the rest). */
  #owedOnly(entry: Active, now: number): boolean {
    return entry.owed !== undefined && this.#sends(entry) && !this.#due(entry, now);
  }

  /**
   * #scheduleRepeat wakes when the first alert sent and still firing is due again. A repeat used to
   * go out only when its caller fired it again; most fire once (a crash loop pauses replacement, a
   * held group is journaled once), so `repeat_interval` never re-sent them, however long they fired.
   */
  #scheduleRepeat(): void {
    clearTimeout(this.#repeatTimer);
    this.#repeatTimer = undefined;
    // While the rate limit holds firings back, its timer sends what is due and schedules again.
    if (this.#repeat <= 0 || this.#closed || this.#heldTimer !== undefined || this.#limit <= 0) return;
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#active.values())
      if (entry.notified && this.#sends(entry)) next = Math.min(next, entry.lastSent + this.#repeat);
    if (next === Number.POSITIVE_INFINITY) return;
    // setTimeout takes at most 2^31-1 ms (24.8 days); a longer wait wakes early and schedules again.
    const wait = Math.min(2 ** 31 - 1, Math.max(0, next - this.#now()));
    this.#repeatTimer = setTimeout(() => {
      this.#repeatTimer = undefined;
      this.#sendDue();
    }, wait);
    this.#repeatTimer.unref();
  }

  /**
   * #sendDue sends the firings that are due (held by the rate limit, or due for a repeat) and still
   * fire, most severe first, while the minute has room.
   */
  #sendDue(): void {
    if (this.#closed) return;
    const now = this.#now();
    const due = this.#byRank(
      [...this.#active.values()].filter((entry) => this.#due(entry, now) || this.#owedOnly(entry, now)),
    );
    for (const entry of due) {
      if (!this.#room(now)) {
        this.#holdUntilRoom(now);
        break;
      }
      this.#sent.push(now);
      if (this.#owedOnly(entry, now)) {
        this.#logger.info({ alert: entry.alert.key }, 'alert still firing: sent to a sink the reload added');
        const owed = [...entry.owed!];
        delete entry.owed;
        this.#dispatch(entry.alert, undefined, owed);
        continue;
      }
      this.#logger.info(
        { alert: entry.alert.key },
        entry.notified
          ? 'alert still firing: sent again (repeat_interval)'
          : 'alert sent after the rate limit held it',
      );
      this.#send(entry, now);
    }
    this.#scheduleRepeat();
  }

  /** #dispatch hands `alert` to `only` (default: every sink) except those in `skip`, each in its key's order. */
  #dispatch(alert: Alert, skip?: ReadonlySet<AlertSink>, only: readonly AlertSink[] = this.#sinks): void {
    this.emit('alert', alert);
    for (const sink of only) {
      if (skip?.has(sink)) continue;
      // One key's notifications reach a sink in order: a resolve sent while its firing is still being
      // retried would otherwise arrive first, and the receiver would keep a cleared alert firing.
      const tails = this.#tails.get(sink) ?? new Map<string, Promise<void>>();
      this.#tails.set(sink, tails);
      const previous = tails.get(alert.key) ?? Promise.resolve();
      const delivery = previous
        .then(() => sink.send(alert))
        .then(
          () => undefined,
          (err: unknown) => {
            const error = err instanceof Error ? err : new Error(String(err));
            this.#logger.error({ err: error, sink: sink.name, alert: alert.key }, 'alert delivery failed');
            this.emit('sinkError', error, sink.name, alert);
          },
        );
      this.#pending.add(delivery);
      tails.set(alert.key, delivery);
      void delivery.finally(() => {
        this.#pending.delete(delivery);
        if (tails.get(alert.key) === delivery) tails.delete(alert.key);
      });
    }
  }
}

import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { isMainThread } from 'node:worker_threads';
import type { LocalProviderConfig } from '../../config/types.js';
import { InstanceError, ProviderError } from '../errors.js';
import type { DrainHook, Instance, InstanceState, Provider, ProviderEvents } from '../types.js';
import { sharedReaper } from './reaper.js';
import { formatAddress, freePort, groupAlive, probeHttp, setprivPath, signalGroup } from './system.js';

/** LocalProviderLogger is the slice of a pino-style logger the local provider writes to. */
export interface LocalProviderLogger {
  info(fields: Record<string, unknown>, msg: string): void;
  warn(fields: Record<string, unknown>, msg: string): void;
  error(fields: Record<string, unknown>, msg: string): void;
}

/** RestartBackoff spaces out replacements of crashed instances. */
export interface RestartBackoff {
  /** Delay after the first crash; it doubles with each consecutive one. @defaultValue 500 (ms) */
  initialMs: number;
  /** @defaultValue 30000 (ms) */
  maxMs: number;
  /** An instance that crashes after being ready this long starts the doubling over. @defaultValue 60000 (ms) */
  resetAfterMs: number;
}

/** LocalProviderOptions configures a LocalProvider. */
export interface LocalProviderOptions {
  /** Group name, used in instance ids (`web-3`). */
  group: string;
  config: LocalProviderConfig;
  /** Path probed until a new instance answers 2xx/3xx. */
  healthPath: string;
  /** Waits until a removed instance has no request in flight. @defaultValue resolves at once */
  drain?: DrainHook;
  /** Receives the instances' output, line by line, and lifecycle notes. @defaultValue drops everything */
  logger?: LocalProviderLogger;
  /** Clock for timestamps, the crash window and the backoff. @defaultValue Date.now */
  now?: () => number;
  /** Source of the backoff jitter, in [0, 1). @defaultValue Math.random */
  random?: () => number;
  /** Pause between readiness probes. @defaultValue 100 (ms) */
  healthInterval?: number;
  /** @defaultValue { initialMs: 500, maxMs: 30000, resetAfterMs: 60000 } */
  restartBackoff?: Partial<RestartBackoff>;
  /**
   * Signal the kernel sends each instance's leader process if this thread dies (`setpriv
   * --pdeathsig`, when installed); a second layer under the reaper. false disables it.
   * @defaultValue 'SIGTERM'
   */
  parentDeathSignal?: 'SIGTERM' | 'SIGKILL' | false;
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface Waiter {
  resolve: () => void;
  /** Crash count when the waiter was registered. */
  crashes: number;
}

const NOOP_LOGGER: LocalProviderLogger = { info() {}, warn() {}, error() {} };
/** Longest single readiness probe. */
const PROBE_TIMEOUT_MS = 1000;
/** How long to wait for a SIGKILLed group to vanish before reporting it. */
const KILL_WAIT_MS = 5000;
const GROUP_POLL_MS = 50;

/** Slot is the provider's mutable record of one instance. */
class Slot {
  port = 0;
  pid: number | undefined;
  child: ChildProcess | undefined;
  state: InstanceState = 'starting';
  readyAt: number | undefined;
  /** Set once the provider decided this instance goes away (scale-in, close or failure). */
  stopRequested = false;
  exit: ExitInfo | undefined;
  /** Aborted on exit or stop: ends the readiness wait. */
  readonly abort = new AbortController();
  readonly exited: Promise<ExitInfo>;
  markExited!: (info: ExitInfo) => void;

  constructor(
    readonly id: string,
    readonly startedAt: number,
  ) {
    this.exited = new Promise((resolve) => {
      this.markExited = resolve;
    });
  }
}

/**
 * LocalProvider runs a group's instances as child processes of this one, each `/bin/sh -c command`
 * in its own process group, on its own port. See DESIGN.md (providers/) for the contract.
 */
export class LocalProvider extends EventEmitter<ProviderEvents> implements Provider {
  /** Always `'local'`. */
  readonly kind = 'local';
  readonly #group: string;
  readonly #config: LocalProviderConfig;
  readonly #healthPath: string;
  readonly #drain: DrainHook;
  readonly #logger: LocalProviderLogger;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #healthInterval: number;
  readonly #backoff: RestartBackoff;
  readonly #wrapper: string[];
  readonly #reaper = sharedReaper();
  readonly #releaseReaper: () => void;

  #slots: Slot[] = [];
  #nextId = 1;
  #target = 0;
  #waiters: Waiter[] = [];
  #closing = false;
  #closed: Promise<void> | undefined;
  /** Crashes ever seen; lets a waiter tell whether a start failed since it was registered. */
  #crashCount = 0;
  #consecutiveCrashes = 0;
  #crashTimes: number[] = [];
  #crashLoopPaused = false;
  #backoffUntil = 0;
  #backoffTimer: NodeJS.Timeout | undefined;
  #reconciling = false;
  #reconcileAgain = false;

  constructor(options: LocalProviderOptions) {
    super();
    const { config } = options;
    validate(options);
    this.#group = options.group;
    this.#config = config;
    this.#healthPath = options.healthPath;
    this.#drain = options.drain ?? (async () => {});
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#now = options.now ?? Date.now;
    this.#random = options.random ?? Math.random;
    this.#healthInterval = options.healthInterval ?? 100;
    this.#backoff = { initialMs: 500, maxMs: 30_000, resetAfterMs: 60_000, ...options.restartBackoff };
    const deathSignal = options.parentDeathSignal ?? 'SIGTERM';
    // PR_SET_PDEATHSIG follows the *thread* that forked: in a worker thread it would fire when the
    // worker ends, so it is only safe from the main thread.
    const setpriv = deathSignal && isMainThread ? setprivPath() : null;
    this.#wrapper = deathSignal && setpriv ? [setpriv, '--pdeathsig', deathSignal.slice(3), '--'] : [];
    this.#releaseReaper = this.#reaper.acquire((err) =>
      this.#report(new ProviderError('REAPER_FAILED', `${this.#group}: ${err.message}`, { cause: err })),
    );
  }

  /** instances lists every instance that is not stopped yet, oldest first. */
  instances(): readonly Instance[] {
    return this.#slots.filter((s) => s.pid !== undefined).map((s) => this.#snapshot(s));
  }

  /** desired is the count the provider is converging to (the last scaleTo). */
  desired(): number {
    return this.#target;
  }

  /**
   * scaleTo sets the desired count and resolves once it is reached (new instances ready or failed,
   * removed ones drained and stopped), or once nothing more can be done (crash loop). A later call
   * supersedes this one; both then resolve when the later target is reached. It also lifts a
   * crash-loop pause.
   */
  scaleTo(n: number): Promise<void> {
    if (!Number.isInteger(n) || n < 0) {
      return Promise.reject(
        new ProviderError('INVALID_ARGUMENT', `instances must be an integer >= 0, got ${n}`),
      );
    }
    if (this.#closing && n > 0) {
      return Promise.reject(new ProviderError('CLOSED', `group ${this.#group} is closed`));
    }
    return this.#scale(n);
  }

  /** close drains and stops every instance and releases the reaper; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      clearTimeout(this.#backoffTimer);
      this.#backoffTimer = undefined;
      await this.#scale(0);
      this.#releaseReaper();
    })();
    return this.#closed;
  }

  #scale(n: number): Promise<void> {
    this.#target = n;
    if (this.#crashLoopPaused) {
      this.#crashLoopPaused = false;
      this.#logger.info({ group: this.#group }, 'crash-loop pause lifted by scaleTo');
    }
    const done = new Promise<void>((resolve) => {
      this.#waiters.push({ resolve, crashes: this.#crashCount });
    });
    this.#reconcile();
    return done;
  }

  /**
   * reconcile compares the live count with the target and starts or stops the difference. It is
   * synchronous, so decisions never interleave; every finished start, stop or crash calls it again.
   */
  #reconcile(): void {
    // A 'change' listener may call scaleTo while we are deciding: finish this pass, then run again.
    if (this.#reconciling) {
      this.#reconcileAgain = true;
      return;
    }
    this.#reconciling = true;
    try {
      do {
        this.#reconcileAgain = false;
        this.#reconcilePass();
      } while (this.#reconcileAgain);
    } finally {
      this.#reconciling = false;
    }
    this.#settle();
  }

  #reconcilePass(): void {
    const live = () =>
      this.#slots.filter((s) => !s.stopRequested && (s.state === 'starting' || s.state === 'ready'));
    let active = live();
    // One victim at a time: stopping emits 'change', and a listener may move the target meanwhile.
    while (active.length > this.#target) {
      // Starting instances serve nobody yet, and the newest ready ones have the least warm state.
      const victim = active.findLast((s) => s.state === 'starting') ?? active.at(-1)!;
      this.#track(this.#stop(victim));
      active = live();
    }
    if (active.length < this.#target && !this.#crashLoopPaused && !this.#closing) {
      const wait = this.#backoffUntil - this.#now();
      if (wait > 0) {
        this.#backoffTimer ??= setTimeout(() => {
          this.#backoffTimer = undefined;
          this.#reconcile();
        }, wait);
      } else {
        for (let i = active.length; i < this.#target; i++) {
          const slot = new Slot(`${this.#group}-${this.#nextId++}`, this.#now());
          this.#slots.push(slot);
          this.#track(this.#launch(slot));
        }
      }
    }
  }

  /** settle resolves the scaleTo promises once nothing is in flight and no more can happen now. */
  #settle(): void {
    if (this.#waiters.length === 0 || this.#slots.some((s) => s.state !== 'ready')) return;
    const ready = this.#slots.length;
    const reached = ready === this.#target || (ready < this.#target && this.#crashLoopPaused);
    const pending: Waiter[] = [];
    for (const waiter of this.#waiters) {
      // Waiting out a backoff after a start failed counts as done: the caller hears of it via `crash`.
      const failedSince = this.#backoffTimer !== undefined && this.#crashCount > waiter.crashes;
      if (reached || failedSince) waiter.resolve();
      else pending.push(waiter);
    }
    this.#waiters = pending;
  }

  async #launch(slot: Slot): Promise<void> {
    const config = this.#config;
    try {
      slot.port = await freePort(config.host);
    } catch (err) {
      slot.markExited({ code: null, signal: null });
      this.#report(new InstanceError('SPAWN_FAILED', slot.id, 'no free port', { cause: err }));
      await this.#fail(slot, { code: null, signal: null }, 'no free port');
      return;
    }
    if (slot.stopRequested) {
      // Scaled in while we looked for a port: nothing was started.
      this.#remove(slot);
      return;
    }
    const [file, ...args] = [...this.#wrapper, '/bin/sh', '-c', config.command];
    const child = spawn(file!, args, {
      cwd: config.cwd,
      env: { ...process.env, ...config.env, [config.portEnv]: String(slot.port) },
      // Its own process group: we can signal the whole tree, and a terminal's Ctrl-C reaches only us.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    slot.child = child;
    child.on('exit', (code, signal) => this.#onExit(slot, { code, signal }));
    child.on('error', (err) => {
      this.#report(
        new InstanceError('SPAWN_FAILED', slot.id, `cannot run ${config.command}`, { cause: err }),
      );
      // A spawn that failed has no pid and emits no 'exit'.
      if (slot.pid === undefined) this.#onExit(slot, { code: null, signal: null });
    });
    this.#forward(slot, child.stdout, 'stdout');
    this.#forward(slot, child.stderr, 'stderr');
    slot.pid = child.pid;
    if (slot.pid !== undefined) {
      this.#reaper.register(slot.pid, config.stopTimeout);
      this.#logger.info(
        { group: this.#group, instance: slot.id, pid: slot.pid, port: slot.port },
        `starting ${slot.id} (pid ${slot.pid}) on ${this.#config.host}:${slot.port}`,
      );
      this.emit('change');
    }

    const outcome = await this.#waitReady(slot);
    if (outcome === 'stopped') return; // #stop owns the slot now.
    if (outcome === 'ready') {
      slot.state = 'ready';
      slot.readyAt = this.#now();
      this.#logger.info(
        { group: this.#group, instance: slot.id, ms: slot.readyAt - slot.startedAt },
        `${slot.id} ready on ${this.#config.host}:${slot.port} after ${slot.readyAt - slot.startedAt} ms`,
      );
      this.emit('change');
      this.#reconcile();
      return;
    }
    const message =
      outcome === 'exited'
        ? `exited before answering ${this.#healthPath}`
        : `did not answer ${this.#healthPath} within ${config.startTimeout} ms`;
    await this.#fail(slot, slot.exit ?? { code: null, signal: null }, message);
  }

  async #waitReady(slot: Slot): Promise<'ready' | 'exited' | 'timeout' | 'stopped'> {
    const signal = AbortSignal.any([slot.abort.signal, AbortSignal.timeout(this.#config.startTimeout)]);
    while (!signal.aborted) {
      const ok = await probeHttp(this.#config.host, slot.port, this.#healthPath, PROBE_TIMEOUT_MS, signal);
      if (ok && !signal.aborted) return 'ready';
      await delay(this.#healthInterval, undefined, { signal, ref: false }).catch(() => {});
    }
    if (slot.stopRequested) return 'stopped';
    return slot.exit ? 'exited' : 'timeout';
  }

  #onExit(slot: Slot, info: ExitInfo): void {
    if (slot.exit) return;
    slot.exit = info;
    slot.markExited(info);
    slot.abort.abort();
    if (slot.stopRequested) return;
    if (slot.state === 'ready') {
      this.#track(this.#fail(slot, info, 'exited unexpectedly'));
    }
    // A starting instance: #waitReady sees the abort and fails it.
  }

  /** fail handles an instance that exited on its own or never became ready: report, clean up, replace. */
  async #fail(slot: Slot, detail: ExitInfo, reason: string): Promise<void> {
    slot.stopRequested = true;
    slot.state = 'failed';
    this.#logger.warn(
      { group: this.#group, instance: slot.id, code: detail.code, signal: detail.signal, reason },
      'instance failed',
    );
    const loop = this.#recordCrash(slot);
    this.emit('crash', this.#snapshot(slot), detail);
    if (loop) this.emit('crashLoop', loop);
    this.emit('change');
    await this.#terminate(slot);
    this.#remove(slot);
  }

  /** recordCrash updates backoff and crash-loop state; it returns the crashLoop detail when this crash starts a pause. */
  #recordCrash(slot: Slot): ProviderEvents['crashLoop'][0] | undefined {
    const now = this.#now();
    this.#crashCount++;
    if (slot.readyAt !== undefined && now - slot.readyAt >= this.#backoff.resetAfterMs)
      this.#consecutiveCrashes = 0;
    this.#consecutiveCrashes++;
    const base = Math.min(this.#backoff.maxMs, this.#backoff.initialMs * 2 ** (this.#consecutiveCrashes - 1));
    // Equal jitter: between half and all of the base, so replicas that crash together spread out.
    this.#backoffUntil = now + base / 2 + (base / 2) * this.#random();

    const windowMs = this.#config.crashLoopWindow;
    this.#crashTimes = [...this.#crashTimes.filter((t) => now - t < windowMs), now];
    if (this.#crashTimes.length > this.#config.crashLoopLimit && !this.#crashLoopPaused) {
      this.#crashLoopPaused = true;
      clearTimeout(this.#backoffTimer);
      this.#backoffTimer = undefined;
      this.#logger.error(
        { group: this.#group, crashes: this.#crashTimes.length, windowMs },
        'crash loop: replacement paused until the next scaleTo',
      );
      return { group: this.#group, crashes: this.#crashTimes.length, windowMs };
    }
    return undefined;
  }

  /** stop drains (if it served traffic), then terminates the instance's process group. */
  async #stop(slot: Slot): Promise<void> {
    slot.stopRequested = true;
    slot.abort.abort();
    if (slot.state === 'ready') {
      slot.state = 'draining';
      this.emit('change');
      try {
        await this.#drain(this.#snapshot(slot));
      } catch (err) {
        this.#report(
          new InstanceError('DRAIN_FAILED', slot.id, 'drain hook failed; stopping anyway', { cause: err }),
        );
      }
    }
    // Not spawned yet: #launch sees stopRequested after its port lookup and removes the slot.
    if (!slot.child) return;
    slot.state = 'stopping';
    this.emit('change');
    this.#logger.info(
      { group: this.#group, instance: slot.id, pid: slot.pid },
      `${slot.id} drained; stopping it (SIGTERM, SIGKILL after ${this.#config.stopTimeout} ms)`,
    );
    await this.#terminate(slot);
    slot.state = 'stopped';
    this.#remove(slot);
  }

  /** terminate ends the whole process group: SIGTERM, then SIGKILL after stopTimeout. */
  async #terminate(slot: Slot): Promise<void> {
    const pgid = slot.pid;
    if (pgid === undefined) return;
    try {
      // Even when the leader already exited, the rest of its group may still run.
      signalGroup(pgid, 'SIGTERM');
      if (!(await this.#waitGone(slot, pgid, this.#config.stopTimeout))) {
        this.#logger.warn(
          { group: this.#group, instance: slot.id, pid: pgid, stopTimeout: this.#config.stopTimeout },
          'instance ignored SIGTERM; sending SIGKILL',
        );
        signalGroup(pgid, 'SIGKILL');
        if (!(await this.#waitGone(slot, pgid, KILL_WAIT_MS))) {
          // Keep the reaper registration: it retries when this process exits.
          throw new Error(`process group ${pgid} survived SIGKILL for ${KILL_WAIT_MS} ms`);
        }
      }
      this.#reaper.unregister(pgid);
    } catch (err) {
      this.#report(
        new InstanceError('STOP_FAILED', slot.id, 'cannot stop its process group', { cause: err }),
      );
    }
  }

  /** waitGone waits (bounded) for the leader's exit event and then for the group to empty. */
  async #waitGone(slot: Slot, pgid: number, ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    const timer = new AbortController();
    await Promise.race([
      slot.exited,
      delay(ms, undefined, { signal: timer.signal, ref: false }).catch(() => {}),
    ]);
    timer.abort();
    if (!slot.exit) return false;
    while (groupAlive(pgid)) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await delay(Math.min(GROUP_POLL_MS, left));
    }
    return true;
  }

  #remove(slot: Slot): void {
    this.#slots = this.#slots.filter((s) => s !== slot);
    if (slot.pid !== undefined) this.emit('change');
    this.#reconcile();
  }

  #forward(slot: Slot, stream: Readable | null, name: 'stdout' | 'stderr'): void {
    if (!stream) return;
    stream.on('error', () => {});
    // readline keeps the pipe flowing, so a chatty child never blocks on a full pipe.
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on('line', (line) => {
      this.#logger.info({ group: this.#group, instance: slot.id, stream: name }, line);
    });
  }

  #snapshot(slot: Slot): Instance {
    return Object.freeze({
      id: slot.id,
      group: this.#group,
      address: formatAddress(this.#config.host, slot.port),
      state: slot.state,
      pid: slot.pid,
      startedAt: slot.startedAt,
      readyAt: slot.readyAt,
    });
  }

  #track(work: Promise<void>): void {
    work.catch((err: unknown) =>
      this.#report(
        err instanceof Error ? err : new ProviderError('STOP_FAILED', String(err), { cause: err }),
      ),
    );
  }

  /** report sends a background failure to `error` listeners, or to the logger when there are none. */
  #report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.#logger.error({ group: this.#group, err }, err.message);
  }
}

function validate(options: LocalProviderOptions): void {
  const { config } = options;
  const fail = (what: string) => {
    throw new ProviderError('INVALID_ARGUMENT', `local provider ${options.group}: ${what}`);
  };
  if (!options.group) fail('group name is empty');
  if (!config.command.trim()) fail('command is empty');
  if (!config.portEnv) fail('port_env is empty');
  if (!options.healthPath.startsWith('/')) fail(`health path must start with /, got ${options.healthPath}`);
  for (const key of ['startTimeout', 'stopTimeout', 'crashLoopWindow'] as const) {
    if (!(config[key] > 0)) fail(`${key} must be > 0, got ${config[key]}`);
  }
  if (!Number.isInteger(config.crashLoopLimit) || config.crashLoopLimit < 0) {
    fail(`crashLoopLimit must be an integer >= 0, got ${config.crashLoopLimit}`);
  }
  if (options.healthInterval !== undefined && !(options.healthInterval > 0))
    fail('healthInterval must be > 0');
}

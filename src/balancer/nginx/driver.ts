import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { chmod, readFile, readlink, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { NginxDriverConfig } from '../../config/types.js';
import { BalancerError } from '../errors.js';
import type { BackendInstance, BalancerLogger } from '../types.js';
import { nginxHint, notRunningHint } from './hints.js';
import { type CommandOutput, discoverPidFile } from './pid-file.js';
import {
  assertOwnUpstream,
  DEFAULT_NGINX_TIMEOUTS,
  type NginxTimeouts,
  nginxServerAddress,
  renderLocationTimeouts,
  renderUpstreams,
  upstreamName,
} from './render.js';
import { DEFAULT_NGINX_RETRY, type NginxRetryOptions, nginxRetryDelay } from './retry.js';
import { exited, newWorkersStarted, notMaster, retire, workersOf } from './workers.js';

/** NginxDriverErrorCode names how a sync can fail. */
export type NginxDriverErrorCode = 'NGINX_TEST_FAILED' | 'NGINX_RELOAD_FAILED' | 'NGINX_WRITE_FAILED';

/**
 * NginxDriverError is a failed sync; on a failed test the previous include file is restored (or
 * removed, when there was none).
 */
export class NginxDriverError extends Error {
  /** Stable machine-readable reason. */
  readonly code: NginxDriverErrorCode;

  constructor(code: NginxDriverErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NginxDriverError';
    this.code = code;
  }
}

/**
 * CommandRunner runs a shell command and rejects with its stderr on a non-zero exit. It may resolve
 * with the output: the pid file discovery reads `nginx -T` and `nginx -V` through it.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a runner that prints nothing (`async () => {}`) stays one
export type CommandRunner = (command: string) => Promise<CommandOutput | void>;

/** runShell is the default CommandRunner: `/bin/sh -c command`, 30 s at most, resolving with its output. */
export const runShell: CommandRunner = (command) =>
  new Promise((resolve, reject) => {
    // `nginx -T` of a config with many sites runs to megabytes.
    execFile(
      '/bin/sh',
      ['-c', command],
      { timeout: 30_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(Object.assign(err, { stderr: String(stderr).trim() }));
        else resolve({ stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });

/** NginxDriverOptions configures an NginxDriver. */
export interface NginxDriverOptions {
  config: NginxDriverConfig;
  /** @defaultValue runShell */
  run?: CommandRunner;
  /** @defaultValue a logger that drops everything */
  logger?: BalancerLogger;
  /** How a failed sync is retried. @defaultValue DEFAULT_NGINX_RETRY (1 s doubling to 30 s) */
  retry?: Partial<NginxRetryOptions>;
  /** Source of the retry jitter, in [0, 1). @defaultValue Math.random */
  random?: () => number;
  /** With a pid file (configured or discovered): ms a master that got the reload signal has to start new workers. @defaultValue 10000 */
  reloadTimeout?: number;
  /**
   * The balancer's timeouts (`nginxTimeouts(config.balancer)`), rendered into the upstreams
   * (`keepalive_timeout`) and `locationIncludeFile`. @defaultValue DEFAULT_NGINX_TIMEOUTS
   */
  timeouts?: NginxTimeouts;
}

/** NginxSync reports one sync that reached NGINX. */
export interface NginxSync {
  /** Whether NGINX was tested and reloaded: the file changed, the flush was forced, or it was the first. */
  readonly reloaded: boolean;
  readonly text: string;
  /** Failed syncs in a row before this one: above 0, NGINX had stale upstreams until now. */
  readonly failedAttempts: number;
}

/** NginxRetry reports a retry scheduled after a failed sync. */
export interface NginxRetry {
  /** Failed syncs in a row, this one included (1 after the first failure). */
  readonly attempt: number;
  /** ms until the retry, unless a change or a flush syncs sooner. */
  readonly delay: number;
  readonly error: NginxDriverError;
}

/** NginxDriverEvents are what an NginxDriver emits. */
export interface NginxDriverEvents {
  synced: [sync: NginxSync];
  error: [error: NginxDriverError];
  retry: [retry: NginxRetry];
}

/** Waiter is a `synced` caller: the version it waits for, and the server address it stops, if it named one. */
interface Waiter {
  readonly version: number;
  readonly address: string | undefined;
  readonly deadline: number;
  readonly done: (synced: boolean) => void;
}

/** Worker is an NGINX worker a reload retired: its start time, and the include text it loaded (undefined: unknown). */
interface Worker {
  readonly start: string;
  readonly text: string | undefined;
}

/** loads is whether an include `text` has a server at `address` (as nginxServerAddress writes it). */
function loads(text: string, address: string): boolean {
  return text.includes(`\n    server ${address} `);
}

const silentLogger: BalancerLogger = { info() {}, warn() {}, error() {} };

/**
 * NginxDriver keeps an NGINX include file in step with group membership: `update` records a group's
 * instances and schedules a sync after `debounce` ms, so a burst of changes costs one reload. A sync
 * renders, skips everything if the text is unchanged (except for the driver's first sync, which
 * always tests and reloads), writes atomically (temp file + rename), runs the test command, and
 * reloads gracefully. A failed test puts the previous file back (or removes
 * the file, when there was none). Failures are `error` events, never rejections in the background.
 *
 * A failed sync is retried with capped exponential backoff (a `retry` event says when), forced so
 * that a file already written is tested and reloaded again, until one succeeds: NGINX converges once
 * the cause is gone (a broken include fixed, the master started) even if membership never changes
 * again. A change or a `flush` in the meantime syncs instead of the pending retry; `close` cancels it.
 */
export class NginxDriver extends EventEmitter<NginxDriverEvents> {
  readonly #config: NginxDriverConfig;
  readonly #run: CommandRunner;
  readonly #logger: BalancerLogger;
  readonly #retry: NginxRetryOptions;
  readonly #random: () => number;
  readonly #reloadTimeout: number;
  readonly #timeouts: NginxTimeouts;
  readonly #groups = new Map<string, readonly BackendInstance[]>();
  /**
   * Per group, the ids `synced` was asked to stop while their provider still listed them ready
   * (a Kubernetes or AWS scale-in drains its victims before it removes them): left out of the
   * upstream until a listing no longer has them ready or draining, as the balancer's pool does.
   */
  readonly #draining = new Map<string, Set<string>>();
  #timer: NodeJS.Timeout | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #pendingRetry: { attempt: number; delay: number } | undefined;
  #running: Promise<void> = Promise.resolve();
  #written: string | undefined;
  /** What `locationIncludeFile` holds as far as this driver knows (read at the first sync). */
  #locationWritten: string | undefined;
  /** Failed syncs in a row; while above 0, what NGINX runs is unknown and every sync is forced. */
  #failures = 0;
  /**
   * Whether a sync of this driver has reloaded NGINX. Until one has, the first sync is forced even
   * when the file on disk already holds the text: the NGINX that runs may have been started with
   * another (older) file, or its last reload may have failed, and would keep stale upstreams.
   */
  #reloadedOnce = false;
  #closed = false;
  /** Bumped by every `update`: the membership recorded so far. */
  #version = 0;
  /** The `#version` the last successful sync rendered (NGINX was reloaded with it, or already had it). */
  #syncedVersion = 0;
  /** `synced` callers waiting for a version to reach NGINX. */
  readonly #waiters = new Set<Waiter>();
  /** With a pid file: the workers the last reload retired, which may still finish requests on the upstreams they loaded. */
  #retired: ReadonlyMap<number, Worker> | undefined;
  /** The text this driver's last reload loaded; undefined before one, and after a reload whose outcome is unknown. */
  #loaded: string | undefined;
  /** Without `config.pidFile`: the pid file NGINX names, asked once, at the first sync whose test passed. */
  #discovered: Promise<string | undefined> | undefined;
  #pidFile: string | undefined;

  constructor(options: NginxDriverOptions) {
    super();
    if (!options.config.includeFile) {
      throw new BalancerError('BALANCER_INVALID_ARGUMENT', 'nginx.include_file must be set');
    }
    const retry = { ...DEFAULT_NGINX_RETRY, ...options.retry };
    if (!(retry.initial > 0) || !(retry.max >= retry.initial)) {
      throw new BalancerError(
        'BALANCER_INVALID_ARGUMENT',
        `nginx retry needs 0 < initial <= max, got initial ${retry.initial} and max ${retry.max}`,
      );
    }
    this.#config = options.config;
    this.#run = options.run ?? runShell;
    this.#logger = options.logger ?? silentLogger;
    this.#retry = retry;
    this.#random = options.random ?? Math.random;
    this.#reloadTimeout = options.reloadTimeout ?? 10_000;
    this.#timeouts = options.timeouts ?? DEFAULT_NGINX_TIMEOUTS;
    this.#pidFile = options.config.pidFile;
  }

  /**
   * pidFile is the NGINX master's pid file the driver watches: `config.pidFile`, else the one NGINX
   * named at the first sync whose test passed (undefined until then, and when it named none).
   */
  get pidFile(): string | undefined {
    return this.#pidFile;
  }

  /** pidFileOf is `config.pidFile`, else asks NGINX once; a discovery that fails is logged once, and the driver goes without. */
  #pidFileOf(): Promise<string | undefined> {
    if (this.#config.pidFile !== undefined) return Promise.resolve(this.#config.pidFile);
    this.#discovered ??= discoverPidFile(
      this.#config.testCommand,
      this.#run,
      this.#config.reloadCommand,
    ).then((found) => {
      if (found.pidFile !== undefined) {
        this.#pidFile = found.pidFile;
        this.#logger.info(
          { pidFile: found.pidFile, source: found.source },
          `nginx: pid file ${found.pidFile} (from ${found.source}): a reload counts once the master started new workers, and a scale-in waits for the workers it retired`,
        );
      } else {
        this.#logger.warn(
          { reason: found.reason },
          `nginx: no pid file (${found.reason}); reloads are not checked for new workers and a scale-in does not wait for the old ones: set balancer.nginx.pid_file`,
        );
      }
      return found.pidFile;
    });
    return this.#discovered;
  }

  /** render is the include file's text for the membership recorded so far. */
  render(): string {
    return renderUpstreams(
      [...this.#groups].map(([name, instances]) => {
        const draining = this.#draining.get(name);
        // Drained while its provider still lists it ready: out of the upstream all the same.
        const listed = draining === undefined ? instances : instances.filter((i) => !draining.has(i.id));
        return { name, instances: listed };
      }),
      this.#config,
      this.#timeouts,
    );
  }

  /** renderLocation is the `locationIncludeFile` text: the location-level timeouts (renderLocationTimeouts). */
  renderLocation(): string {
    return renderLocationTimeouts(this.#timeouts);
  }

  /** pendingRetry is the retry scheduled after a failed sync, if one is waiting. */
  get pendingRetry(): { readonly attempt: number; readonly delay: number } | undefined {
    return this.#pendingRetry;
  }

  /**
   * addGroup records a group that has no instance yet, so that the next sync renders its upstream
   * (the placeholder): nginx.conf proxies to every group's upstream, and NGINX refuses a config
   * that names one no block defines. It schedules no sync of its own: a sync at start, before
   * adopted instances passed their health check, would put the placeholder in place of upstreams
   * NGINX still serves from. A group already recorded is left as it is.
   */
  addGroup(group: string): void {
    this.#ownUpstream(group);
    if (!this.#closed && !this.#groups.has(group)) this.#groups.set(group, []);
  }

  /** update records a group's instances and schedules a debounced sync, which supersedes a pending retry. */
  update(group: string, instances: readonly BackendInstance[]): void {
    if (this.#closed) return;
    // Throws here, at the caller, for a name that would put directives into the file, or that
    // another group's upstream already has.
    this.#ownUpstream(group);
    for (const i of instances) {
      if (i.state === 'ready' && nginxServerAddress(i.address) === undefined) {
        this.#logger.warn(
          { group, instance: i.id, address: i.address },
          `nginx: instance ${i.id} of ${group} left out of the upstream: address is not host:port`,
        );
      }
    }
    this.#groups.set(group, instances.slice());
    const draining = this.#draining.get(group);
    for (const id of draining ?? []) {
      // Gone, or listed once as another state (ReturnToService puts a survivor back so): forgotten.
      const listed = instances.find((i) => i.id === id);
      if (listed?.state !== 'ready' && listed?.state !== 'draining') draining!.delete(id);
    }
    if (draining?.size === 0) this.#draining.delete(group);
    this.#changed();
  }

  /** ownUpstream throws when `group` cannot name an upstream, or names one a recorded group renders. */
  #ownUpstream(group: string): void {
    assertOwnUpstream(new Map([...this.#groups.keys()].map((g) => [upstreamName(g), g])), group);
  }

  /** changed notes a membership change and schedules a debounced sync, which supersedes a pending retry. */
  #changed(): void {
    this.#version++;
    this.#cancelRetry();
    if (this.#timer !== undefined) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush().catch(() => undefined);
    }, this.#config.debounce);
  }

  /**
   * flush syncs now (after any sync in progress) and rejects with an NginxDriverError on failure.
   * `force` tests and reloads even when the file already holds this text: a one-off sync cannot know
   * whether the NGINX that runs has loaded it (an earlier reload may have failed). After a failed
   * sync every sync is forced until one succeeds.
   */
  flush(options: { force?: boolean } = {}): Promise<NginxSync> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#cancelRetry();
    const result = this.#running.then(() => this.#sync(options.force === true || this.#failures > 0));
    this.#running = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * synced resolves true once NGINX has been reloaded with (or already held) the membership recorded
   * by every `update` so far, or false after `timeoutMs` or on `close`. With a pid file, also once the
   * workers that reload retired have exited: they finish the requests they had, on the old upstreams.
   * A scale-in waits on it before it stops an instance: NGINX sends to the instances directly, so
   * Scaleplane's own balancer sees none of its requests, and an instance stopped before NGINX is done
   * with it loses the requests NGINX had on it (a 502 for a POST, which NGINX does not retry).
   * With `address` (the instance being stopped), only the retired workers whose upstreams had a
   * server there (or are unknown) are waited for. With `group` and `id` too, that instance is first
   * taken out of the group's upstream when the last `update` still listed it ready, as the
   * balancer's own drain does: a Kubernetes or AWS scale-in drains its victims before the engine
   * removes them, and until it does their provider lists them ready. Before, NGINX kept sending
   * to such an instance all through its drain, and `synced` resolved at once.
   */
  synced(
    timeoutMs: number,
    options: { address?: string; group?: string; id?: string } = {},
  ): Promise<boolean> {
    if (options.group !== undefined && options.id !== undefined) this.#drain(options.group, options.id);
    const version = this.#version;
    if (this.#closed || !(timeoutMs > 0)) return Promise.resolve(this.#syncedVersion >= version);
    const address = options.address === undefined ? undefined : (nginxServerAddress(options.address) ?? '');
    return new Promise((resolve) => {
      let settled = false;
      const waiter: Waiter = {
        version,
        address,
        deadline: performance.now() + timeoutMs,
        done: (synced: boolean) => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          this.#waiters.delete(waiter);
          resolve(synced);
        },
      };
      const timer = setTimeout(() => waiter.done(false), timeoutMs);
      this.#waiters.add(waiter);
      if (this.#syncedVersion >= version) this.#release(waiter);
    });
  }

  /** drain leaves instance `id` of `group` out of its upstream, if the last update listed it ready. */
  #drain(group: string, id: string): void {
    if (this.#closed) return;
    if (!this.#groups.get(group)?.some((i) => i.id === id && i.state === 'ready')) return;
    const draining = this.#draining.get(group) ?? new Set<string>();
    if (draining.has(id)) return;
    this.#draining.set(group, draining.add(id));
    this.#changed();
  }

  #markSynced(version: number): void {
    this.#syncedVersion = Math.max(this.#syncedVersion, version);
    for (const waiter of [...this.#waiters]) if (waiter.version <= this.#syncedVersion) this.#release(waiter);
  }

  /**
   * release ends a waiter whose version reached NGINX, once the workers the last reload retired are
   * gone: with an address, those that loaded a server at it (or whose upstreams are unknown). An old
   * worker that holds a WebSocket for hours (NGINX keeps it until the connection ends, unless
   * `worker_shutdown_timeout`) made every later scale-in wait out drain_timeout, also for instances
   * added after its upstreams, which it never sent anything to.
   */
  #release(waiter: Waiter): void {
    this.#waiters.delete(waiter);
    const retired = this.#retired === undefined ? undefined : new Map<number, string>();
    for (const [pid, worker] of this.#retired ?? []) {
      if (waiter.address === undefined || worker.text === undefined || loads(worker.text, waiter.address)) {
        retired!.set(pid, worker.start);
      }
    }
    if (retired === undefined) waiter.done(true);
    else exited(retired, waiter.deadline - performance.now()).then(waiter.done, () => waiter.done(false));
  }

  /** close stops scheduled syncs and retries and waits for one in progress; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.done(false);
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#cancelRetry();
    // A sync in progress that fails now schedules no retry: #fail sees #closed.
    await this.#running;
  }

  /**
   * retiring notes what each of `pids` (the master's children before a reload) loaded: a worker seen
   * at the previous reload keeps what was noted then, one new since then was started by it (or by
   * a reload before this driver's first, or after a crash: unknown).
   */
  async #retiring(pids: Iterable<number>): Promise<ReadonlyMap<number, Worker>> {
    const workers = new Map<number, Worker>();
    for (const [pid, start] of await retire(pids)) {
      const known = this.#retired?.get(pid);
      workers.set(pid, { start, text: known?.start === start ? known.text : this.#loaded });
    }
    return workers;
  }

  #cancelRetry(): void {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#pendingRetry = undefined;
  }

  async #sync(force: boolean): Promise<NginxSync> {
    // This sync supersedes a retry that an earlier one scheduled while this one was queued.
    this.#cancelRetry();
    const version = this.#version;
    const text = this.render();
    const file = this.#config.includeFile;
    this.#written ??= await readFile(file, 'utf8').catch(() => undefined);
    // The location timeouts change only with the config, but the file may not hold them yet (the
    // first sync, an older Scaleplane's or an operator's edit): written, tested and reloaded with
    // the upstreams, and put back with them after a failed test.
    const locationFile = this.#config.locationIncludeFile;
    const location = locationFile === undefined ? undefined : this.renderLocation();
    if (locationFile !== undefined)
      this.#locationWritten ??= await readFile(locationFile, 'utf8').catch(() => undefined);
    const locationChanged = location !== undefined && location !== this.#locationWritten;
    if (text === this.#written && !locationChanged && !force && this.#reloadedOnce) {
      this.#markSynced(version);
      return { reloaded: false, text, failedAttempts: 0 };
    }
    const previous = this.#written;
    const previousLocation = this.#locationWritten;
    try {
      await writeAtomically(file, text);
    } catch (err) {
      return this.#fail(
        new NginxDriverError('NGINX_WRITE_FAILED', `cannot write ${file}: ${String(err)}`, { cause: err }),
      );
    }
    if (locationChanged) {
      try {
        await writeAtomically(locationFile!, location);
      } catch (err) {
        // The upstreams alone were not meant to reach NGINX untested either.
        if (previous !== undefined) await writeAtomically(file, previous).catch(() => undefined);
        else await removeInclude(file).catch(() => undefined);
        return this.#fail(
          new NginxDriverError('NGINX_WRITE_FAILED', `cannot write ${locationFile}: ${String(err)}`, {
            cause: err,
          }),
        );
      }
    }
    try {
      await this.#run(this.#config.testCommand);
    } catch (err) {
      // Put back what was there; there was no file, so none may stay: an nginx reloaded by
      // anyone else would load the upstreams that just failed the test.
      // Atomically too: an in-place write cut short (a crash, a full disk) would leave a truncated
      // include that the next nginx start or reload by anyone would trip over.
      if (previous !== undefined) await writeAtomically(file, previous).catch(() => undefined);
      else await removeInclude(file).catch(() => undefined);
      if (locationChanged) {
        if (previousLocation !== undefined)
          await writeAtomically(locationFile!, previousLocation).catch(() => undefined);
        else await removeInclude(locationFile!).catch(() => undefined);
      }
      return this.#fail(
        new NginxDriverError(
          'NGINX_TEST_FAILED',
          `${this.#config.testCommand} failed: ${stderrOf(err)}${nginxHint(err, stderrOf(err), file, text)}`,
          { cause: err },
        ),
      );
    }
    this.#written = text;
    if (location !== undefined) this.#locationWritten = location;
    const pidFile = await this.#pidFileOf();
    const before = pidFile === undefined ? undefined : await workersOf(pidFile);
    // A master that died (SIGKILL, OOM) leaves its pid file, and the kernel may give the pid to
    // another process: `nginx -s reload` would send it SIGHUP (which ends most programs) at every
    // retry. The driver reads the pid file too, and does not signal what is not an NGINX master.
    const other = before === undefined ? undefined : await notMaster(before.master);
    if (before !== undefined && other !== undefined) {
      return this.#fail(
        new NginxDriverError(
          'NGINX_RELOAD_FAILED',
          `${pidFile} names pid ${before.master}, which is not an nginx master but "${other.slice(0, 100)}": ` +
            `nginx is not running (its master died and left the pid file); ${this.#config.reloadCommand} not run, so that process gets no SIGHUP`,
        ),
      );
    }
    // Noted before the signal, so that none of them can have exited and left its pid to another.
    const retiring = before === undefined ? undefined : await this.#retiring(before.children);
    // Until this reload is known to have started new workers, which upstreams they load is not.
    this.#loaded = undefined;
    try {
      await this.#run(this.#config.reloadCommand);
    } catch (err) {
      return this.#fail(
        new NginxDriverError(
          'NGINX_RELOAD_FAILED',
          `${this.#config.reloadCommand} failed: ${stderrOf(err)}${nginxHint(err, stderrOf(err), file, text) || notRunningHint(stderrOf(err))}`,
          {
            cause: err,
          },
        ),
      );
    }
    // The reload command only signals the master: it counts once the master started new workers.
    if (pidFile !== undefined && before !== undefined) {
      if (!(await newWorkersStarted(pidFile, before, this.#reloadTimeout))) {
        return this.#fail(
          new NginxDriverError(
            'NGINX_RELOAD_FAILED',
            `${this.#config.reloadCommand} exited 0, but nginx (master ${before.master}) started no new workers ` +
              `within ${this.#reloadTimeout} ms: it refused the new config (its error log says why) and runs the previous upstreams`,
          ),
        );
      }
      this.#retired = retiring;
    }
    this.#loaded = text;
    const failedAttempts = this.#failures;
    this.#failures = 0;
    this.#reloadedOnce = true;
    this.#markSynced(version);
    if (failedAttempts > 0) {
      this.#logger.info(
        { file, groups: this.#groups.size, failedAttempts },
        `nginx upstreams rendered and reloaded after ${failedAttempts} failed attempts; in sync again`,
      );
    } else {
      this.#logger.info({ file, groups: this.#groups.size }, 'nginx upstreams rendered and reloaded');
    }
    const sync = { reloaded: true, text, failedAttempts };
    this.emit('synced', sync);
    return sync;
  }

  #fail(err: NginxDriverError): never {
    const attempt = ++this.#failures;
    // A change already waiting for its debounce syncs soon anyway (forced): no retry on top of it.
    const retry = this.#closed || this.#timer !== undefined ? undefined : this.#scheduleRetry(attempt);
    this.#logger.error(
      { code: err.code, err: err.message, attempt, ...(retry && { retryInMs: retry.delay }) },
      retry
        ? `nginx sync failed (attempt ${attempt}); NGINX keeps its previous upstreams, retrying in ${retry.delay} ms`
        : `nginx sync failed (attempt ${attempt}); NGINX keeps its previous upstreams`,
    );
    if (this.listenerCount('error') > 0) this.emit('error', err);
    if (retry) this.emit('retry', { ...retry, error: err });
    throw err;
  }

  #scheduleRetry(attempt: number): { attempt: number; delay: number } {
    this.#cancelRetry();
    const delay = nginxRetryDelay(attempt, this.#retry, this.#random);
    this.#pendingRetry = { attempt, delay };
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#pendingRetry = undefined;
      this.flush().catch(() => undefined);
    }, delay);
    return this.#pendingRetry;
  }
}

/**
 * writeAtomically replaces `file` with `text` through a temp file and a rename, so a reader (nginx
 * -t, a reload, a start) sees the old text or the new one, never a part of it. The temp file is
 * removed when the write fails. A symlinked include (conf.d/scaleplane.conf pointing into a folder
 * Scaleplane owns) is written at its target, next to which the temp file goes: renamed over the
 * link, the temp file replaced the link itself, and needed write access to conf.d. The file keeps
 * its mode.
 */
async function writeAtomically(file: string, text: string): Promise<void> {
  const target = await linkTarget(file);
  const temp = includeTempPath(target);
  try {
    const mode = await stat(target).then(
      (s) => s.mode & 0o7777,
      () => undefined,
    );
    await writeFile(temp, text, mode === undefined ? {} : { mode });
    // writeFile's mode is masked by the umask: set it as it was.
    if (mode !== undefined) await chmod(temp, mode);
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * includeTempPath is where writeAtomically writes before its rename: beside `target`, named with a
 * leading dot. A temp file a crash left (Scaleplane killed between the write and the rename) then
 * stays out of a glob include (`include sites-enabled/*;`, Debian's default), which NGINX expands
 * without dot files; named `<include>.<pid>.tmp`, it was read as a second copy of the upstreams,
 * and every later `nginx -t` failed on a duplicate upstream.
 */
export function includeTempPath(target: string, pid = process.pid): string {
  return join(dirname(target), `.${basename(target)}.${pid}.tmp`);
}

/**
 * linkTarget is the file `file` names once symlinks are followed (itself when it is none), also
 * when the last link dangles (the include file not written yet): NGINX reads the same file.
 */
async function linkTarget(file: string): Promise<string> {
  let path = file;
  // ELOOP's bound, as the kernel's.
  for (let hops = 0; hops < 40; hops++) {
    const link = await readlink(path).catch(() => undefined);
    if (link === undefined) break;
    path = resolve(dirname(path), link);
  }
  return path;
}

/** removeInclude removes the include file (at a symlink's target, as writeAtomically wrote it). */
async function removeInclude(file: string): Promise<void> {
  await rm(await linkTarget(file), { force: true });
}

/**
 * stderrOf is a failed command's stderr on one line, as the CLI's one-line error and a log field
 * want it: NGINX writes `2026/01/01 00:00:00 [emerg] 123#123: what` lines plus notices and a
 * closing "test failed"; the timestamps, pids and notices say nothing, the problems are kept.
 */
function stderrOf(err: unknown): string {
  const stderr = (err as { stderr?: string }).stderr || (err as Error).message || String(err);
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const problems = lines
    .filter((line) => !/^\S+ \S+ \[(notice|info|debug)\] /.test(line))
    .map((line) => line.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d (\[\w+\]) \d+#\d+: /, '$1 '));
  return (problems.length > 0 ? problems : lines).join('; ');
}

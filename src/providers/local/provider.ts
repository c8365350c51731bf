import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  closeSync,
  createWriteStream,
  existsSync,
  openSync,
  readFileSync,
  renameSync,
  type WriteStream,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { isMainThread } from 'node:worker_threads';
import type { LocalProviderConfig } from '../../config/types.js';
import { deadline } from '../../deadline.js';
import { InstanceError, invalidInstanceCount, ProviderError } from '../errors.js';
import {
  type DrainHook,
  formatAddress,
  type Instance,
  type InstanceSize,
  type InstanceState,
  type Provider,
  type ProviderEvents,
  type ReplaceResult,
  type ResizeOptions,
} from '../types.js';
import {
  type CgroupLayout,
  type CpuCeiling,
  cgroupPids,
  cgroupShellPrefix,
  createInstanceCgroup,
  createTrackingCgroup,
  detectCgroups,
  type InstanceCgroup,
  oomKills,
  rebalanceCpuWeights,
  removeCgroupDirs,
  removeCgroupDirsOnceEmpty,
  signalCgroups,
} from './cgroups.js';
import { parseProcStat, readProcTable } from './cpu.js';
import { backoffUntil, type CrashMark, forgetRoll, streakWith } from './crash-history.js';
import { instanceEnv } from './env.js';
import { execForm } from './exec-form.js';
import { LineRate, LOG_SUMMARY_INTERVAL_MS } from './line-rate.js';
import { LineSplitter } from './lines.js';
import { capLogFile, KEEP_LOG_BYTES, MAX_LOG_BYTES } from './logcap.js';
import { defaultInstanceLogDir, ensurePrivateDir } from './logdir.js';
import { PipedLogFiles } from './logfiles.js';
import { groupAnonBytes, memoryLimitRefusal } from './memory.js';
import { groupOwner, readProcStat } from './pgid.js';
import { pidOneWarning } from './pid-one.js';
import { defaultPortRange, formatPortRange, portRangeWarning } from './port-range.js';
import {
  localPorts,
  lostItsPort,
  type PortFinder,
  type PortReservations,
  rangePortFinder,
  saysAddressInUse,
} from './ports.js';
import { sharedReaper } from './reaper.js';
import { instanceSpec } from './spec.js';
import { quoteOutput, shellSignal, startTimeoutReason } from './start-failure.js';
import {
  freePort,
  groupAlive,
  type HealthAnswer,
  healthy,
  probeHealth,
  probePort,
  readEphemeralRange,
  setprivPath,
  signalGroup,
} from './system.js';

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
  /**
   * An instance that crashes after being ready this long starts the doubling over; so does a crash
   * this long after the last one could have started and passed its start timeout (see streakWith).
   * @defaultValue 60000 (ms)
   */
  resetAfterMs: number;
  /**
   * While a crash loop pauses replacement, one instance is still tried this often (the kubelet's
   * CrashLoopBackOff cap); its readiness ends the pause. @defaultValue 300000 (ms)
   */
  pausedRetryMs: number;
}

/**
 * LocalInstanceRecord is what a controller remembers of one local instance so that a successor can
 * adopt it: pid + start time name the process for good (a reused pid has another start time).
 */
export interface LocalInstanceRecord {
  id: string;
  /** Leader pid, which is also the process group id. */
  pid: number;
  port: number;
  /** `/proc/<pid>/stat` field 22, in clock ticks after boot. */
  startTime: number;
  /** Epoch ms. */
  startedAt: number;
  size?: InstanceSize;
  /** Instance cgroup directories, removed when it stops. */
  cgroupDirs?: string[];
  /**
   * Set when the leader starts draining it, before it waits out the drain and stops it, so a
   * standby's balancer takes it out of rotation first.
   */
  draining?: boolean;
  /**
   * instanceSpec of the config it was started with (command, cwd, env, port_env, host). An adopted
   * instance whose spec is not the config's now is replaced; absent (recorded before specs were
   * kept): taken as current.
   */
  spec?: string;
  /**
   * Its log file (adoptable instances write their own). A successor reads it here rather than
   * rebuilding it from its own folder, which may differ (another unit's `$STATE_DIRECTORY`);
   * absent (recorded before it was kept): `scaleplane-<id>.log` in logDir as given, else os.tmpdir().
   */
  logFile?: string;
}

/**
 * SavedSize is the size a resize put in force for a group, kept so that instances started after a
 * restart or takeover get it too, as a resized Deployment stays resized.
 */
export interface SavedSize {
  /** What new instances get. */
  size: InstanceSize;
  /**
   * The size the group's config (`resources`) gave when the resize was made; none: no `resources`.
   * A restart whose config says otherwise was edited since, and the config wins.
   */
  configured?: InstanceSize;
}

/**
 * LocalInstanceRegistry persists the instances of one group (a state store). With one, instances
 * outlive this process on purpose: they are recorded, not reaped, and `start()` adopts them.
 */
export interface LocalInstanceRegistry {
  list(group: string): Promise<LocalInstanceRecord[]>;
  put(group: string, record: LocalInstanceRecord): Promise<void>;
  remove(group: string, id: string): Promise<void>;
  /** getSize reads the group's saved size. Absent: sizes are not kept (a restart uses the config). */
  getSize?(group: string): Promise<SavedSize | undefined>;
  /** putSize saves the group's size in force; undefined clears it (the config's size applies). */
  putSize?(group: string, saved: SavedSize | undefined): Promise<void>;
}

/** LocalProviderOptions configures a LocalProvider. */
export interface LocalProviderOptions {
  /** Group name, used in instance ids (`web-3`). */
  group: string;
  config: LocalProviderConfig;
  /** Path probed until a new instance answers 2xx/3xx; empty for a worker, which is ready once running. */
  healthPath: string;
  /** Waits until a removed instance has no request in flight. @defaultValue resolves at once */
  drain?: DrainHook;
  /** Receives the instances' output, line by line, and lifecycle notes. @defaultValue drops everything */
  logger?: LocalProviderLogger;
  /** Clock for timestamps (an instance's startedAt, readyAt). @defaultValue Date.now */
  now?: () => number;
  /**
   * Monotonic clock, ms, of the waits: the restart backoff, the crash-loop window, min_ready and
   * the log line rate. Before, they ran on `now`: a step back of the system clock held a crashed
   * instance's replacement (and a min_ready) off for as long as the step. @defaultValue performance.now
   */
  elapsed?: () => number;
  /** Source of the backoff jitter, in [0, 1). @defaultValue Math.random */
  random?: () => number;
  /** Pause between readiness probes. @defaultValue 100 (ms) */
  healthInterval?: number;
  /**
   * How long one readiness probe waits for its answer: `balancer.health.timeout`, so that an
   * instance the balancer's health check finds healthy also becomes ready. Before, 1 s whatever
   * the config said: an app whose health path takes 1.5 s never became ready, each start failing
   * at start_timeout as a crash. @defaultValue 1000 (ms)
   */
  healthTimeout?: number;
  /** @defaultValue { initialMs: 500, maxMs: 30000, resetAfterMs: 60000 } */
  restartBackoff?: Partial<RestartBackoff>;
  /**
   * Signal the kernel sends each instance's leader process if this thread dies (`setpriv
   * --pdeathsig`, when installed); a second layer under the reaper. false disables it.
   * @defaultValue 'SIGTERM'
   */
  parentDeathSignal?: 'SIGTERM' | 'SIGKILL' | false;
  /** Size (CPU quota, memory limit) every instance starts with. @defaultValue none: no cgroup */
  size?: InstanceSize;
  /**
   * Finds a free port for a new instance. @defaultValue a random free port of `port_range` (or of
   * defaultPortRange, outside ip_local_port_range), checked by a bind; freePort (bind to 0, read
   * it, close) when no default range fits the machine
   */
  freePort?: PortFinder;
  /** Ports held by instances, never handed out twice. @defaultValue localPorts (one set per process) */
  ports?: PortReservations;
  /** Where instance cgroups go; null: none on this machine. @defaultValue detected on first use */
  cgroups?: CgroupLayout | null;
  /**
   * Records instances so a successor adopts them. When set, instances are neither reaped nor sent
   * a parent-death signal when this process dies, and their output goes to `logDir` files (a pipe
   * to a dead parent would break them). @defaultValue none: instances die with this process
   */
  registry?: LocalInstanceRegistry;
  /**
   * Folder of instance log files: with `registry`, `scaleplane-<id>.log` right in it (the path is
   * recorded, a successor finds it there), by default `defaultInstanceLogDir()` (a private folder,
   * created 0700: `~/.local/state/scaleplane/logs`), never the shared /tmp; without, in a folder of
   * this provider's own, `scaleplane-logs-<pid>-XXXXXX` (mkdtemp, 0700) under it, by default under
   * os.tmpdir(), created at the first start. On close the files of instances that stopped cleanly are removed,
   * those of the newest `keptFailedLogFiles` instances that failed are kept. Creating the folder
   * removes this user's folders of controllers no longer running, untouched for 24 h.
   * @defaultValue os.tmpdir() for piped instances, defaultInstanceLogDir() for adoptable ones
   */
  logDir?: string;
  /**
   * Size an instance log file may reach; checked every second, then cut to `<file>.1` (its last
   * MiB) and emptied. @defaultValue 64 MiB
   */
  maxLogBytes?: number;
  /**
   * Failed piped instances whose log files are kept, the newest; an older one's file is deleted
   * when a new one fails (a crash loop would otherwise keep one file per crash).
   * @defaultValue KEPT_FAILED_LOG_FILES (20)
   */
  keptFailedLogFiles?: number;
  /**
   * How often the count of output lines left out of the log by `logLinesPerSecond` is logged, one
   * line per instance. @defaultValue LOG_SUMMARY_INTERVAL_MS (10 s)
   */
  logSummaryInterval?: number;
  /** How often adopted instances (not our children) are checked for exit. @defaultValue 500 (ms) */
  adoptedPollInterval?: number;
  /**
   * Asked right before each new instance is spawned (also a crash replacement, which no scaleTo
   * precedes); rejecting refuses the start. The HA controller checks its fencing token here, so a
   * deposed leader cannot start instances. @defaultValue none: always allowed
   */
  fence?: (what: string) => Promise<void>;
  /**
   * Names of variables of our environment no instance gets (configSecretEnv: the Cloudflare token,
   * alert sinks' secret URLs), asked at each start, so that a config reload's sinks count.
   * @defaultValue none beyond the API token's (CONTROLLER_SECRET_ENV)
   */
  secretEnv?: () => readonly string[];
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

/** Replacement is one replace() running (see LocalProvider.replace). */
interface Replacement {
  victim: Slot;
  /** Settles when it ends (close, release, or its own end): a roll waiting for it goes on. */
  ended: Promise<void>;
  end: () => void;
  /** Riding the resize rolling now: its victim is that roll's next to stop; it holds no surge. */
  withRoll: boolean;
}

const NOOP_LOGGER: LocalProviderLogger = { info() {}, warn() {}, error() {} };
/** Set once pidOneWarning was logged: once per process, not per group. */
let warnedPidOne = false;
/** Longest single readiness probe. */
const PROBE_TIMEOUT_MS = 1000;
/** How long to wait for a SIGKILLed group to vanish before reporting it. */
const KILL_WAIT_MS = 5000;
/** How often, and how far apart, a stop asks again a fence that got no answer (see #mayStop). */
const STOP_FENCE_RETRIES = 30;
const STOP_FENCE_RETRY_MS = 500;
/** How long after a refused start the fence is asked again (see #fencedRetry). */
const START_FENCE_RETRY_MS = 1000;
/** A failed write of an instance's record is tried again this often (see `#record`). */
const RECORD_RETRY_MS = 1000;
/** How often a leader checks that the registry still records its instances (see `#watchRecords`). */
const RECORD_CHECK_MS = 5000;
const GROUP_POLL_MS = 50;
/** Starts in a row that may fail on a taken port before the next counts as a crash. */
const MAX_PORT_RETRIES = 3;

/** Slot is the provider's mutable record of one instance. */
class Slot {
  port = 0;
  pid: number | undefined;
  child: ChildProcess | undefined;
  state: InstanceState = 'starting';
  readyAt: number | undefined;
  /** readyAt on the monotonic clock (`elapsed`), for the backoff's reset. */
  readySince: number | undefined;
  /**
   * When a roll or a replacement may count on it (`elapsed`): `min_ready` after it became ready (at
   * once when adopted: it served before). Undefined until ready.
   */
  availableAt: number | undefined;
  /** Says (a `change`) when it becomes available, with `min_ready`. */
  availableTimer: NodeJS.Timeout | undefined;
  /** Set once the provider decided this instance goes away (scale-in, close or failure). */
  stopRequested = false;
  /** Resize generation it was started in; older ones are replaced first by a rolling resize. */
  generation = 0;
  /** Chosen by `replace`: the first to go once its replacement is ready. */
  condemned = false;
  /** Its stop (see #stop), once one began: settles when it is stopped or handed over. */
  stopped: Promise<void> | undefined;
  size: InstanceSize | undefined;
  /** instanceSpec of the config it was started with; another than the provider's: outdated. */
  spec: string | undefined;
  cgroupDirs: string[] = [];
  /** Started by an earlier controller: no ChildProcess, exit found by polling /proc. */
  adopted = false;
  /** True while its record is being written (see LocalProvider#record). */
  recording = false;
  /** Adopted, running, answering its health path with a failure past start_timeout: kept, probed on. */
  heldUnready = false;
  startTime: number | undefined;
  exit: ExitInfo | undefined;
  /** The last readiness probe's answer: says why a start timed out. */
  lastProbe: HealthAnswer | undefined;
  /** Its last line of output (stdout or stderr), quoted when it fails: often the reason. */
  lastOutput: string | undefined;
  /** A line of its output said EADDRINUSE: its listen found the port taken. */
  saidAddressInUse = false;
  /**
   * Its leader exited while other processes of its group still ran: the command went to the
   * background (`app &`, a daemonizing server) instead of staying in the foreground.
   */
  leftGroupRunning = false;
  /** Starts of this instance before it that failed on a taken port (see #retryOnFreshPort). */
  portRetries = 0;
  /** Decides which of its output lines reach our log (set when its output is piped to us). */
  lineRate: LineRate | undefined;
  /** Its log file when its output is piped to us: every byte, whatever the rate limit lets through. */
  logFile: WriteStream | undefined;
  /** Path of that file (in the provider's own folder), kept after the stream ends. */
  logPath: string | undefined;
  /** The file an adoptable instance writes its output to itself (recorded, for a successor). */
  ownLogFile: string | undefined;
  /** Resolves once its output pipes closed (all of it read), or at once without pipes. */
  outputDone: Promise<void> = Promise.resolve();
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
 * (one simple command exec'd, so the leader is the app: see execForm) in its own process group, on
 * its own port. See DESIGN.md (providers/) for the contract.
 */
export class LocalProvider extends EventEmitter<ProviderEvents> implements Provider {
  /** Always `'local'`. */
  readonly kind = 'local';
  /** cgroup limits: CPU and memory, no instance types. */
  readonly resizes = ['cpu', 'memory'] as const;
  readonly #group: string;
  readonly #config: LocalProviderConfig;
  readonly #healthPath: string;
  readonly #drain: DrainHook;
  readonly #logger: LocalProviderLogger;
  readonly #now: () => number;
  readonly #elapsed: () => number;
  readonly #random: () => number;
  readonly #healthInterval: number;
  readonly #healthTimeout: number;
  readonly #backoff: RestartBackoff;
  readonly #wrapper: string[];
  readonly #reaper = sharedReaper();
  readonly #releaseReaper: () => void;
  readonly #registry: LocalInstanceRegistry | undefined;
  readonly #logDir: string;
  /** Folder of adoptable instances' log files (see LocalProviderOptions.logDir). */
  readonly #instanceLogDir: string;
  /** Where instances recorded without their log file wrote it (logDir as given, else os.tmpdir()). */
  readonly #recordedLogDir: string;
  /** Whether #instanceLogDir is the default, created on first use (a configured one must exist). */
  readonly #createInstanceLogDir: boolean;
  /** Log files of piped instances, in a folder of this provider's own. */
  readonly #pipedLogs: PipedLogFiles;
  /** Set once a failed instance's file was deleted to keep the newest: said once per provider. */
  #failedLogsDropped = false;
  readonly #adoptedPollInterval: number;
  readonly #fence: ((what: string) => Promise<void>) | undefined;
  readonly #secretEnv: () => readonly string[];
  /**
   * Set when the fence refused a start: no more starts until the next start() or scaleTo(), or
   * until #fencedRetry asks the fence again.
   */
  #fenced = false;
  /**
   * Asks the fence again after a refused start. A refusal does not prove another controller leads:
   * a lease check answered past the renew deadline on a loaded machine refuses too, and the leader
   * goes on leading. Before, such a leader's scale-out 3 → 5 started web-4 only and stayed at 4 until
   * the next scaleTo, which a group scaled by hand never gets. A deposed leader's release() ends it.
   */
  #fencedRetry: NodeJS.Timeout | undefined;
  /**
   * The records of the instances release() handed over, until the next start(): one that still
   * runs and that the registry no longer records (a Redis restarted without persistence lost the
   * lease and the state under us) is still ours to take back once we lead again.
   */
  readonly #released = new Map<string, LocalInstanceRecord>();
  #adoptedTimer: NodeJS.Timeout | undefined;
  /** While leading with a registry: checks that it still records every instance (see watchRecords). */
  #recordsTimer: NodeJS.Timeout | undefined;
  #checkingRecords = false;
  #logCapTimer: NodeJS.Timeout | undefined;
  readonly #logSummaryTimer: NodeJS.Timeout;
  readonly #logSummaryInterval: number;
  readonly #maxLogBytes: number;
  /** Instances whose log file was cut already: warned once each. */
  readonly #logCut = new Set<string>();
  #size: InstanceSize | undefined;
  /** instanceSpec of the config: what instances started now run. */
  readonly #spec: string;
  /** The size from the config (`options.size`), kept to tell a saved resize from an edited config. */
  readonly #configuredSize: InstanceSize | undefined;
  #cgroups: CgroupLayout | null | undefined;
  /** The last size whose CPU was capped and said so (see warnCpuCapped). */
  #cpuCapWarned: string | undefined;
  /** Set once a tracking cgroup could not be made: unsized instances then go without (said once). */
  #untracked = false;
  #generation = 0;
  /** Extra instances allowed above the target while a rolling resize replaces one. */
  #surge = 0;
  /** Generation of the resize rolling now, if one is. */
  #rolling: number | undefined;
  /**
   * The replacement running now (see replace), if one is. With `withRoll` it rides the resize
   * rolling now (its victim is the next instance that roll stops) and holds no surge; otherwise it
   * holds the surge until it ends.
   */
  #replacing: Replacement | undefined;
  /** Told when a roll ends or the replacement is ended: a replacement riding a roll looks again. */
  readonly #replacementWakers = new Set<() => void>();
  /** The last instance that failed, and why: a failed resize names it (see #lastFailureOf). */
  #lastFailure: { generation: number; id: string; reason: string } | undefined;

  #slots: Slot[] = [];
  #nextId = 1;
  #target = 0;
  #waiters: Waiter[] = [];
  #closing = false;
  #closed: Promise<void> | undefined;
  /** Crashes ever seen; lets a waiter tell whether a start failed since it was registered. */
  #crashCount = 0;
  /** Crashes in a row, each with its instance's generation (see crash-history.ts). */
  #crashStreak: CrashMark[] = [];
  /** Crashes within the crash-loop window. */
  #crashTimes: CrashMark[] = [];
  /** Generation of the crash that began the crash-loop pause in force. */
  #pausedBy: number | undefined;
  #crashLoopPaused = false;
  /** Set by #probeTimer: a crash-loop pause may start one instance. */
  #probe = false;
  #probeTimer: NodeJS.Timeout | undefined;
  #backoffUntil = 0;
  #backoffTimer: NodeJS.Timeout | undefined;
  readonly #findPort: PortFinder;
  readonly #ports: PortReservations;
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
    this.#secretEnv = options.secretEnv ?? (() => []);
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#now = options.now ?? Date.now;
    this.#elapsed = options.elapsed ?? (() => performance.now());
    this.#random = options.random ?? Math.random;
    this.#healthInterval = options.healthInterval ?? 100;
    this.#healthTimeout = options.healthTimeout ?? PROBE_TIMEOUT_MS;
    this.#backoff = {
      initialMs: 500,
      maxMs: 30_000,
      resetAfterMs: 60_000,
      pausedRetryMs: 300_000,
      ...options.restartBackoff,
    };
    this.#registry = options.registry;
    this.#logDir = options.logDir ?? tmpdir();
    this.#instanceLogDir = options.logDir ?? defaultInstanceLogDir();
    this.#recordedLogDir = this.#logDir;
    this.#createInstanceLogDir = options.logDir === undefined;
    this.#pipedLogs = new PipedLogFiles(this.#logDir, {
      ...(options.keptFailedLogFiles !== undefined && { keptFailed: options.keptFailedLogFiles }),
    });
    this.#adoptedPollInterval = options.adoptedPollInterval ?? 500;
    this.#maxLogBytes = options.maxLogBytes ?? MAX_LOG_BYTES;
    // Adoptable instances write their log files themselves, the others' output is copied to theirs
    // by us: either way only this check bounds them.
    this.#logCapTimer = setInterval(() => this.#capLogs(), 1000);
    this.#logCapTimer.unref();
    this.#logSummaryTimer = setInterval(
      () => this.#logLeftOut(false),
      options.logSummaryInterval ?? LOG_SUMMARY_INTERVAL_MS,
    );
    this.#logSummaryTimer.unref();
    this.#logSummaryInterval = options.logSummaryInterval ?? LOG_SUMMARY_INTERVAL_MS;
    this.#fence = options.fence;
    this.#findPort = options.freePort ?? this.#portFinder(config);
    this.#ports = options.ports ?? localPorts;
    this.#size = options.size;
    this.#spec = instanceSpec(config);
    this.#configuredSize = options.size;
    this.#cgroups = options.cgroups;
    // With a registry, instances must outlive us: no parent-death signal, no reaper.
    const deathSignal = options.registry ? false : (options.parentDeathSignal ?? 'SIGTERM');
    // PR_SET_PDEATHSIG follows the *thread* that forked: in a worker thread it would fire when the
    // worker ends, so it is only safe from the main thread.
    const setpriv = deathSignal && isMainThread ? setprivPath() : null;
    this.#wrapper = deathSignal && setpriv ? [setpriv, '--pdeathsig', deathSignal.slice(3), '--'] : [];
    const pidOne = warnedPidOne ? undefined : pidOneWarning(process.pid);
    if (pidOne !== undefined) {
      warnedPidOne = true;
      this.#logger.warn({ group: this.#group, pid: process.pid }, pidOne);
    }
    this.#releaseReaper = options.registry
      ? () => {}
      : this.#reaper.acquire((err) =>
          this.#report(new ProviderError('REAPER_FAILED', `${this.#group}: ${err.message}`, { cause: err })),
        );
  }

  /**
   * #portFinder finds instances' ports in `port_range`, warning when it shares ports with the
   * kernel's ephemeral range, or else in defaultPortRange; bind(0) when no range fits.
   */
  #portFinder(config: LocalProviderConfig): PortFinder {
    const ephemeral = readEphemeralRange();
    const field = `groups.${this.#group}.port_range`;
    if (config.portRange !== undefined) {
      const warning = portRangeWarning(field, config.portRange, ephemeral);
      if (warning !== undefined) this.#logger.warn({ group: this.#group }, warning);
      return rangePortFinder(config.portRange, { field });
    }
    const range = defaultPortRange(ephemeral);
    if (range === undefined) {
      this.#logger.info(
        { group: this.#group },
        `${this.#group}: no port range outside the ephemeral ports (${ephemeral === undefined ? 'unknown here' : formatPortRange(ephemeral)}) fits: instance ports come from bind(0); set ${field}`,
      );
      return freePort;
    }
    return rangePortFinder(range, { field: `${field} (not set: default)` });
  }

  /**
   * start adopts the instances the registry recorded whose process still runs (same pid and start
   * time): they count towards the target at once and become ready when their health path answers.
   * Records of dead processes are dropped. Without a registry it does nothing.
   */
  async start(): Promise<void> {
    this.#fenced = false;
    // A size no instance can get here fails the start, naming the key: before, every instance
    // failed to start ("cannot apply its size", EACCES), counted as a crash until a crash loop,
    // while `scaleplane up` ran on serving nothing.
    const refusal = this.#size && this.#cgroupRefusal(this.#size);
    if (refusal !== undefined)
      throw new ProviderError(
        'UNSUPPORTED',
        `groups.${this.#group}.resources cannot be applied on this machine: ${refusal.replace(/^resize: /, '')}`,
      );
    if (!this.#registry) return;
    let records: LocalInstanceRecord[];
    let saved: SavedSize | undefined;
    try {
      records = await this.#registry.list(this.#group);
      saved = await this.#registry.getSize?.(this.#group);
    } catch (err) {
      throw new ProviderError('ADOPT_FAILED', `${this.#group}: cannot read recorded instances`, {
        cause: err,
      });
    }
    this.#restoreSize(saved);
    const lost = this.#lostRecords(records);
    // Oldest first, like the instances a provider started itself.
    records = [...records, ...lost].sort((a, b) => a.startedAt - b.startedAt);
    for (const record of records) {
      const number = Number(/-(\d+)$/.exec(record.id)?.[1] ?? 0);
      this.#nextId = Math.max(this.#nextId, number + 1);
      if (this.#slots.some((s) => s.id === record.id)) continue;
      if (processStartTime(record.pid) !== record.startTime) {
        this.#logger.info(
          { group: this.#group, instance: record.id, pid: record.pid },
          `${record.id} is gone; forgetting it`,
        );
        removeCgroupDirs(record.cgroupDirs ?? []);
        this.#track(this.#registry.remove(this.#group, record.id));
        continue;
      }
      const slot = new Slot(record.id, record.startedAt);
      slot.adopted = true;
      slot.pid = record.pid;
      slot.port = record.port;
      this.#ports.hold(slot.port);
      slot.startTime = record.startTime;
      slot.size = record.size;
      slot.spec = record.spec ?? this.#spec;
      slot.cgroupDirs = record.cgroupDirs ?? [];
      // Its group's and `scaleplane`'s CPU weights count it again (see rebalanceCpuWeights).
      rebalanceCpuWeights(slot.cgroupDirs);
      slot.ownLogFile = record.logFile ?? join(this.#recordedLogDir, `scaleplane-${record.id}.log`);
      slot.generation = this.#generation;
      this.#slots.push(slot);
      this.#target++;
      this.#logger.info(
        { group: this.#group, instance: slot.id, pid: slot.pid, port: slot.port },
        `adopted ${slot.id} (pid ${slot.pid}) on ${this.#config.host}:${slot.port}`,
      );
      // A leader that died mid-drain left it marked: adopted, it serves again, so standbys route to it.
      // One the registry lost is recorded again, for standbys and the next leader.
      if (record.draining || lost.includes(record)) this.#record(slot);
      this.#track(this.#watchAdopted(slot));
    }
    if (this.#slots.some((s) => s.adopted)) this.emit('change');
    this.#pollAdopted();
    this.#watchRecords();
    this.#rollOutdatedSpec();
  }

  /**
   * lostRecords are the instances this provider handed over (release) that still run and that the
   * registry, read as `records`, no longer has: a store that lost its data (a Redis restarted
   * without persistence, or failed over to a replica that lacked it) deposes the leader, which then
   * wins the lease again. Before, it started new instances and left these running unmanaged for
   * good. One whose id the registry gives to another instance (another leader started it in between)
   * cannot be taken back under that id: it is named in a warning. Forgets what it was handed.
   */
  #lostRecords(records: readonly LocalInstanceRecord[]): LocalInstanceRecord[] {
    const lost: LocalInstanceRecord[] = [];
    for (const record of this.#released.values()) {
      if (records.some((r) => r.id === record.id && r.pid === record.pid)) continue;
      if (processStartTime(record.pid) !== record.startTime) continue;
      if (records.some((r) => r.id === record.id)) {
        this.#logger.warn(
          { group: this.#group, instance: record.id, pid: record.pid },
          `${record.id} (pid ${record.pid}), handed over earlier, still runs but ${record.id} is now recorded for another process: it is not managed; stop it (kill -- -${record.pid})`,
        );
        continue;
      }
      this.#logger.warn(
        { group: this.#group, instance: record.id, pid: record.pid },
        `${record.id} (pid ${record.pid}) is no longer recorded (the state store lost it); taking it back`,
      );
      lost.push(record);
    }
    this.#released.clear();
    return lost;
  }

  /**
   * rollOutdatedSpec replaces adopted instances started with another command, cwd, env, port_env or
   * host than the config's, as a Deployment rolls pods of an older template: one at a time, each
   * once its replacement is ready (the rolling resize's path, at the size in force). Before, a
   * restart that changed them (the way a reload says such a change takes effect) adopted the old
   * instances and kept them running the old command for good; only new ones got the new one.
   */
  #rollOutdatedSpec(): void {
    const live = this.#slots.filter(
      (s) => !s.stopRequested && (s.state === 'ready' || s.state === 'starting'),
    );
    const outdated = live.filter((s) => s.spec !== this.#spec).map((s) => s.id);
    if (outdated.length === 0) return;
    this.#logger.info(
      { group: this.#group, outdated },
      `${this.#group}: ${outdated.length} of ${live.length} adopted instance(s) (${outdated.join(', ')}) run an earlier command, cwd or env; replacing them one at a time`,
    );
    this.#roll(this.#size).catch((err: unknown) => {
      const code = (err as { code?: string }).code;
      // A later resize rolls them too (it replaces every instance of another spec).
      if (code === 'RESIZE_SUPERSEDED' || code === 'CLOSED') return;
      this.#report(
        new ProviderError(
          'RESIZE_FAILED',
          `${this.#group}: replacing instances of an earlier command failed`,
          {
            cause: err,
          },
        ),
      );
    });
  }

  /**
   * restoreSize puts a saved resize back in force (start, after a restart or takeover), unless the
   * config's size changed since it was made: then the config wins and the saved size is dropped.
   */
  #restoreSize(saved: SavedSize | undefined): void {
    if (saved === undefined || this.#rolling !== undefined) return;
    if (!sameSize(saved.configured, this.#configuredSize)) {
      this.#logger.info(
        { group: this.#group, saved: saved.size, configured: this.#configuredSize },
        `${this.#group}: resources changed in the config since the last resize; new instances get the config's size`,
      );
      this.#saveSize(undefined);
      return;
    }
    if (sameSize(saved.size, this.#size)) return;
    this.#size = { ...saved.size };
    this.#logger.info(
      { group: this.#group, size: saved.size },
      `${this.#group}: new instances get the size of the last resize`,
    );
  }

  /** savesSize: with a state store (the registry), a resize stores the size in force there. */
  get savesSize(): boolean {
    return this.#registry?.putSize !== undefined;
  }

  /**
   * saveSize records the size in force (undefined: the config's) so a successor starts with it, and
   * returns the write (failures are also reported), undefined without a state store.
   */
  #saveSize(size: InstanceSize | undefined): Promise<void> | undefined {
    const registry = this.#registry;
    if (!registry?.putSize) return undefined;
    const saved =
      size === undefined || sameSize(size, this.#configuredSize)
        ? undefined
        : { size, ...(this.#configuredSize && { configured: this.#configuredSize }) };
    const write = registry.putSize(this.#group, saved);
    this.#track(write);
    return write;
  }

  /** size is the size new instances get (from config `resources` or the last resize). */
  size(): InstanceSize | undefined {
    return this.#size;
  }

  /**
   * resize gives every instance a new CPU quota and memory limit (cgroups v1 or v2, detected), by
   * rolling replacement: one new instance at a time, ready before the oldest outdated one is
   * drained and stopped, so the number in service never drops. Instances already at `size` stay:
   * so a resize to the size in force finishes a roll a restart cut (the controller asks for it) and
   * replaces only the instances still at another size. A later resize supersedes this one
   * (RESIZE_FAILED). Rejects UNSUPPORTED when the machine has no usable cgroups.
   */
  async resize(change: InstanceSize, options?: ResizeOptions): Promise<void> {
    validateSize(change);
    // Rolling to an instance type would replace every instance for nothing and drop its limits.
    if (change.instanceType !== undefined)
      throw new ProviderError('UNSUPPORTED', 'local resizes cpu and memory, not instance types');
    if (this.#closing) throw new ProviderError('CLOSED', `group ${this.#group} is closed`);
    const size = mergeSize(this.#size, change);
    const refusal = this.#cgroupRefusal(size);
    if (refusal !== undefined) throw new ProviderError('UNSUPPORTED', refusal);
    // Finishing a roll to the size in force (a restart cut it) was checked when it was asked for.
    const tooSmall = sameSize(size, this.#size) ? undefined : this.#usageRefusal(change);
    if (tooSmall !== undefined) throw new ProviderError('INVALID_ARGUMENT', tooSmall);
    return this.#roll(size, options?.onSizeSaved);
  }

  /**
   * resizeRefusal says why a resize to `size` cannot work on this machine, undefined when it can:
   * no cgroups, or none this process may create (not root, a cgroup v2 without delegation). It
   * creates one cgroup of that size and removes it again. Checked only for a hierarchy, a resize
   * as a user without cgroup rights was accepted (202), then each replacement failed to start
   * ("cannot apply its size", EACCES): counted as crashes, a crash loop alerted after 6 of them
   * and the resize failed ~10 s later saying only that no replacement became ready.
   */
  resizeRefusal(change: InstanceSize): string | undefined {
    return this.#cgroupRefusal(mergeSize(this.#size, change)) ?? this.#usageRefusal(change);
  }

  /**
   * usageRefusal says why a memory limit would OOM-kill the replacements (see memoryLimitRefusal):
   * every ready instance holds more anonymous memory than it now.
   */
  #usageRefusal(size: InstanceSize): string | undefined {
    if (size.memory === undefined) return undefined;
    const serving = this.#slots.filter((s) => s.state === 'ready' && !s.stopRequested && s.pid !== undefined);
    if (serving.length === 0) return undefined;
    const read = (pid: number, file: string) => {
      try {
        return readFileSync(`/proc/${pid}/${file}`, 'utf8');
      } catch {
        return undefined; // exited while we read (or no smaps_rollup on this kernel)
      }
    };
    const bytes = groupAnonBytes(
      readProcTable(),
      serving.map((s) => s.pid!),
      read,
    );
    const usages = serving.flatMap((s) => {
      const held = bytes.get(s.pid!);
      return held === undefined ? [] : [{ id: s.id, bytes: held }];
    });
    return memoryLimitRefusal(this.#group, size.memory, usages);
  }

  /** cgroupRefusal is the part of resizeRefusal about cgroups: none, or none this process may create. */
  #cgroupRefusal(size: InstanceSize): string | undefined {
    if (size.cpu === undefined && size.memory === undefined) return undefined;
    const advice =
      'run Scaleplane as root, or in a cgroup v2 subtree delegated to it (systemd: Delegate=yes)';
    const layout = this.#layout();
    if (!layout)
      return `resize: needs cgroups (v1 or v2) with cpu and memory, and this machine has none usable`;
    try {
      const probe = createInstanceCgroup(
        layout,
        this.#group,
        `probe-${randomBytes(3).toString('hex')}`,
        size,
      );
      removeCgroupDirs(probe.dirs);
    } catch (err) {
      return `resize: needs cgroups writable by this process: ${(err as Error).message}; ${advice}`;
    }
    return undefined;
  }

  /**
   * roll replaces, one at a time, every instance in service not at `size` or not of the config's
   * instanceSpec (resize, and adopted instances of an earlier command). See resize.
   */
  async #roll(
    size: InstanceSize | undefined,
    /** Told of the write of the size (a resize through the API, which answers once it landed). */
    onSizeSaved?: (write: Promise<void>) => void,
  ): Promise<void> {
    const live = this.#slots.filter(
      (s) => !s.stopRequested && (s.state === 'ready' || s.state === 'starting'),
    );
    const stale = live.filter((s) => !sameSize(s.size, size) || s.spec !== this.#spec);
    // Finishing a roll to the size already in force: a failure goes back to the size the instances
    // still to replace run with, as the cut roll would have.
    const resized = stale.find((s) => !sameSize(s.size, size));
    const previous = sameSize(this.#size, size) && resized ? resized.size : this.#size;
    this.#size = size && { ...size };
    const saved = this.#saveSize(this.#size);
    if (saved) onSizeSaved?.(saved);
    const generation = ++this.#generation;
    for (const slot of live) if (!stale.includes(slot)) slot.generation = generation;
    // Instances of another size still starting (a superseded resize's replacement) serve nobody:
    // stopped, their places are started again at this size. Otherwise one held the surge and no
    // replacement at this size ever started. Adopted ones serve already (only not yet probed).
    for (const slot of stale) if (slot.state === 'starting' && !slot.adopted) this.#track(this.#stop(slot));
    this.#logger.info(
      { group: this.#group, size, replacing: stale.map((s) => s.id) },
      `resizing ${this.#group}: rolling replacement of ${stale.length} of ${live.length} instance(s), one at a time`,
    );
    this.#rolling = generation;
    try {
      for (;;) {
        if (this.#generation !== generation)
          throw new ProviderError('RESIZE_SUPERSEDED', `resize of ${this.#group} superseded by a later one`);
        if (this.#closing) throw new ProviderError('CLOSED', `group ${this.#group} is closed`);
        // A replacement holds the surge: its successor, at the size in force, is ready before its
        // victim goes. Wait for it rather than share the surge (each would end the other's). One
        // riding this roll holds none: its victim is simply the next instance the roll stops.
        if (this.#replacing !== undefined && !this.#replacing.withRoll) {
          await this.#replacing.ended;
          continue;
        }
        const outdated = this.#slots.filter(
          (s) =>
            s.generation < generation && !s.stopRequested && (s.state === 'ready' || s.state === 'starting'),
        );
        if (outdated.length === 0) return;
        const fresh = new Set(this.#slots.filter((s) => s.generation === generation).map((s) => s.id));
        this.#surge = 1;
        this.#reconcile();
        await this.#awaitSpare(generation, fresh);
        // Superseded while it waited: the surge is the later resize's now; ending it here left that
        // one with no replacement starting, failing it after 3 x start_timeout.
        if (this.#generation !== generation) continue;
        this.#surge = 0;
        this.#reconcile();
        // No deadline of its own: each stop is bounded (the drain hook by the balancer's
        // drain_timeout, then stop_timeout and SIGKILL). Before, it had stop_timeout + 60 s and then
        // failed the resize, reverting its size: with drain_timeout above that, an old instance
        // holding a WebSocket or a long download (in flight until drain_timeout) failed the resize.
        // A replacement riding the roll (see replace) may have had its victim, of this size, stopped
        // in place of an outdated one: waited for too, so no surge starts while it drains.
        await Promise.all(
          this.#slots
            .filter((s) => s.stopRequested && (outdated.includes(s) || s.condemned))
            .map((s) => s.stopped),
        );
      }
    } catch (err) {
      if (this.#generation === generation && !this.#closing) this.#rollBack(previous, size, generation);
      throw err;
    } finally {
      if (this.#generation === generation) this.#surge = 0;
      if (this.#rolling === generation) this.#rolling = undefined;
      this.#wakeReplacement();
    }
  }

  /**
   * awaitSpare waits until one instance more than the desired count is available (ready, for
   * `min_ready`), so that stopping an
   * outdated one leaves the desired count serving, as a Deployment with maxUnavailable 0 does. It
   * also waits for the starts that make up for what changed during the roll (an old instance that
   * crashed, a scale-out). Before, the first replacement ready was enough: with one of those, an
   * old instance was stopped while the group was one ready instance short (1 of 2, 2 of 3). Each
   * instance of this roll that becomes available gives the wait another 3 × start_timeout (+
   * min_ready), as a Deployment's progress deadline counts from its last progress. Rejects
   * RESIZE_FAILED past it.
   */
  async #awaitSpare(generation: number, fresh: ReadonlySet<string>): Promise<void> {
    const spare = () => this.#slots.filter((s) => this.#available(s)).length > this.#target;
    const progress = () =>
      this.#slots.filter((s) => s.generation === generation && !fresh.has(s.id) && this.#available(s)).length;
    for (let seen = progress(); ; seen = progress()) {
      await this.#waitUntil(
        () => this.#generation !== generation || spare() || progress() > seen,
        this.#config.startTimeout * 3 + (this.#config.minReady ?? 0),
        'a replacement instance did not become ready',
        () => this.#lastFailureOf(generation),
      );
      if (this.#generation !== generation || spare()) return;
    }
  }

  /**
   * lastFailureOf says why the last instance of roll `generation` that failed did (`; the last to
   * fail, web-8: exited before answering /healthz (exit code 137: killed by the kernel OOM killer at
   * its memory limit of 32 MiB; …)`), empty when none did. Before, a failed resize said only
   * `(crash loop or closing)`: its journal entry and its alert left out the cause, which only the
   * crash entries before it named.
   */
  #lastFailureOf(generation: number): string {
    const failure = this.#lastFailure;
    if (failure === undefined || failure.generation !== generation) return '';
    return `; the last to fail, ${failure.id}: ${failure.reason}`;
  }

  /**
   * rollBack ends a failed resize as a stuck Deployment rollout keeps its old ReplicaSet: the old
   * instances serve on, and new ones (a scale-out, a crash replacement) get the old size again,
   * not the one that never became ready (e.g. a memory limit the app exceeds: every later start
   * was OOM-killed, and the group stayed below its desired count). The crashes counted against the
   * new size are forgotten, so the pause they caused does not also stop replacing old instances; the
   * group's own (at the old size) are kept, with their backoff and pause (see forgetRoll).
   * The roll's replacements still starting go first: they run the failed size and serve nobody.
   * Before, ending the surge left the choice to reconcile, which during a roll stops outdated
   * instances first: a roll that timed out with its replacement still starting drained and stopped
   * a serving old instance and kept the one that never became ready (2 ready → 1).
   */
  #rollBack(previous: InstanceSize | undefined, failed: InstanceSize | undefined, generation: number): void {
    for (const slot of this.#slots)
      if (slot.generation === generation && slot.state === 'starting' && !slot.stopRequested && !slot.adopted)
        this.#track(this.#stop(slot));
    this.#size = previous;
    this.#saveSize(previous);
    this.#surge = 0;
    const after = forgetRoll(
      { streak: this.#crashStreak, window: this.#crashTimes, pausedBy: this.#pausedBy },
      generation,
      {
        now: this.#elapsed(),
        windowMs: this.#config.crashLoopWindow,
        limit: this.#config.crashLoopLimit,
        backoff: this.#backoff,
        jitter: this.#random(),
      },
    );
    this.#crashStreak = [...after.history.streak];
    this.#crashTimes = [...after.history.window];
    this.#backoffUntil = after.backoffUntil;
    clearTimeout(this.#backoffTimer);
    this.#backoffTimer = undefined;
    if (after.endPause) this.#endPause();
    this.#logger.warn(
      { group: this.#group, size: failed, previous },
      `resize of ${this.#group} failed; new instances get the previous size again`,
    );
    this.#reconcile();
  }

  /**
   * replace starts one extra instance, waits until the group serves its desired count without `id`,
   * then drains and stops `id`, so the number in service never drops below the desired count, as a
   * Deployment with maxUnavailable 0 does. Used for an instance that keeps failing its health checks.
   * During a resize it rides the roll instead, as a ReplicaSet replaces a failing pod mid-rollout:
   * `id` becomes the next instance the roll stops (once one more than the desired count is ready,
   * the roll's own surge, so there is never a second one), and should the roll end with `id` still
   * there, it is replaced as above. Before, it was refused (BUSY) for the whole of the roll, minutes
   * for a slow one, and the controller tried again only after another `replace_after`.
   * Rejects BUSY while another replacement runs, NOT_FOUND for an instance that is not serving. A
   * resize asked meanwhile waits for it to end (see #roll); a scale-in meanwhile stops `id` first,
   * and then no successor is needed.
   */
  async replace(id: string): Promise<ReplaceResult> {
    if (this.#closing) throw new ProviderError('CLOSED', `group ${this.#group} is closed`);
    if (this.#replacing !== undefined) {
      throw new ProviderError('BUSY', `${this.#group}: a replacement is already in progress`);
    }
    const victim = this.#slots.find((s) => s.id === id && !s.stopRequested && s.state === 'ready');
    if (victim === undefined) throw new ProviderError('NOT_FOUND', `${this.#group}: no ready instance ${id}`);
    let end!: () => void;
    const ended = new Promise<void>((resolve) => {
      end = resolve;
    });
    const replacing = { victim, ended, end, withRoll: this.#rolling !== undefined };
    this.#replacing = replacing;
    // Picked first by every stop reconcile decides: the roll's, once its surge instance is ready.
    victim.condemned = true;
    while (this.#rolling !== undefined) {
      this.#logger.info(
        { group: this.#group, instance: id },
        `replacing ${id}: a resize rolls now; ${id} is the next instance it replaces`,
      );
      await this.#rollTakes(victim, replacing);
      if (this.#replacing !== replacing) {
        victim.condemned = false;
        throw new ProviderError('CLOSED', `${this.#group}: closed or handed over while replacing ${id}`);
      }
      if (victim.stopRequested) {
        this.#endReplacement();
        const exited = victim.state === 'failed';
        await this.#gone(victim);
        return {
          method: 'surge',
          detail: exited
            ? `${id} went away before its successor was needed (exited)`
            : `the resize rolling meanwhile replaced ${id}: the group served its desired count without it before it was drained and stopped`,
        };
      }
    }
    // The roll ended (finished, failed) with the victim still serving: a surge of our own now.
    replacing.withRoll = false;
    this.#logger.info({ group: this.#group, instance: id }, `replacing ${id}: starting its successor first`);
    // The surge is this replacement's alone until it ends: a resize waits for it (see #roll), so
    // no one else ends it while the successor starts. Before, a resize's end (or its rollback) set
    // it to 0, and the next reconcile stopped the condemned instance before its successor was ready.
    this.#surge = 1;
    const release = () => {
      if (this.#replacing !== replacing) return;
      this.#surge = 0;
      this.#endReplacement();
    };
    // Ready without the victim: the desired count, read at each check. Before, any new instance
    // ready was enough, so one a scale-out started meanwhile let the victim go while its successor
    // still started: 2 ready of 3 desired.
    const covered = () =>
      this.#slots.filter((s) => s !== victim && this.#available(s)).length >= this.#target;
    try {
      this.#reconcile();
      await this.#waitUntil(
        () => covered() || victim.stopRequested || this.#replacing !== replacing,
        this.#config.startTimeout * 3 + (this.#config.minReady ?? 0),
        `the successor of ${id} did not become ready`,
      );
    } catch (err) {
      victim.condemned = false;
      release();
      this.#reconcile();
      throw err;
    }
    if (this.#replacing !== replacing) {
      // Ended by close() or release(): they stop or hand over every instance, this one too.
      victim.condemned = false;
      throw new ProviderError('CLOSED', `${this.#group}: closed or handed over while replacing ${id}`);
    }
    // Stopped meanwhile by a scale-in or its own exit: its place needs no successor.
    const wentAway = victim.stopRequested;
    // The surge ends: reconcile picks the condemned instance as the one to stop.
    release();
    this.#reconcile();
    // No deadline of its own: its stop is bounded (the drain hook by the balancer's drain_timeout,
    // then stop_timeout and SIGKILL), as a roll's is.
    await this.#gone(victim);
    return wentAway
      ? { method: 'surge', detail: `${id} went away before its successor was needed (scaled in or exited)` }
      : {
          method: 'surge',
          detail: `the group served its desired count without ${id} before ${id} was drained and stopped`,
        };
  }

  /**
   * rollTakes resolves once the roll running now began to stop `victim` (or it went away), the
   * roll ended, or `replacing` was ended (close, release). No deadline of its own: the roll has its
   * progress deadline, and its failure ends it.
   */
  #rollTakes(victim: Slot, replacing: Replacement): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (!victim.stopRequested && this.#rolling !== undefined && this.#replacing === replacing) return;
        this.off('change', check);
        this.#replacementWakers.delete(check);
        resolve();
      };
      this.on('change', check);
      this.#replacementWakers.add(check);
      check();
    });
  }

  /** wakeReplacement tells a replacement riding a roll to look again (the roll ended, or it was ended). */
  #wakeReplacement(): void {
    for (const wake of [...this.#replacementWakers]) wake();
  }

  /** endReplacement forgets the replacement running (close, release, its end) and wakes a roll waiting for it. */
  #endReplacement(): void {
    const replacing = this.#replacing;
    this.#replacing = undefined;
    replacing?.end();
    this.#wakeReplacement();
  }

  /**
   * availableAfter makes a ready instance available to rolls and replacements `ms` from now (see
   * min_ready), and says so with a `change` then, so their waits look again.
   */
  #availableAfter(slot: Slot, ms: number): void {
    slot.availableAt = this.#elapsed() + ms;
    if (ms > 0) this.#wakeWhenAvailable(slot, ms);
  }

  /**
   * wakeWhenAvailable emits `change` once `slot` is available by the clock, arming its timer again
   * while it is not. A timer can fire before the clock says `ms` passed: Node starts it from the
   * event loop's cached time, which a busy loop leaves behind the clock. Before, such a `change` found the instance not yet
   * available and none followed, so the replacement waiting for it failed on its timeout (the likely
   * cause of a CI failure at `min_ready: 200`).
   */
  #wakeWhenAvailable(slot: Slot, ms: number): void {
    slot.availableTimer = setTimeout(() => {
      slot.availableTimer = undefined;
      if (slot.state !== 'ready' || slot.stopRequested || slot.availableAt === undefined) return;
      const left = slot.availableAt - this.#elapsed();
      if (left > 0) this.#wakeWhenAvailable(slot, left);
      else this.emit('change');
    }, ms);
  }

  /**
   * available: ready, not going away, and ready for `min_ready` (a Deployment's minReadySeconds):
   * what a roll and a replacement count on before they stop an old instance. Before, ready at its
   * first health check was enough: one that passed it and crashed a second later let an old one go.
   */
  #available(slot: Slot): boolean {
    return (
      slot.state === 'ready' &&
      !slot.stopRequested &&
      slot.availableAt !== undefined &&
      this.#elapsed() >= slot.availableAt
    );
  }

  /** gone resolves once `slot` has left the instance list (stopped, failed or handed over). */
  #gone(slot: Slot): Promise<void> {
    return new Promise((resolve) => {
      const check = () => {
        if (this.#slots.includes(slot)) return;
        this.off('change', check);
        resolve();
      };
      this.on('change', check);
      check();
    });
  }

  /**
   * waitUntil resolves once `predicate` holds (checked at every change); it rejects RESIZE_FAILED
   * after `ms`, in a crash-loop pause or on close, the message ending with `why` (read then).
   */
  #waitUntil(
    predicate: () => boolean,
    ms: number,
    what: string,
    why: () => string = () => '',
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      const fail = (how: string) =>
        finish(new ProviderError('RESIZE_FAILED', `${this.#group}: ${what} ${how}${why()}`));
      const check = () => {
        if (predicate()) finish();
        else if (this.#closing) fail('(closing)');
        else if (this.#crashLoopPaused)
          fail(
            `(crash loop: ${this.#crashTimes.length} failures in ${this.#config.crashLoopWindow} ms paused the starts)`,
          );
      };
      const timer = setTimeout(() => fail(`within ${ms} ms`), ms);
      const finish = (err?: Error) => {
        clearTimeout(timer);
        this.off('change', check);
        if (err) reject(err);
        else resolve();
      };
      this.on('change', check);
      check();
    });
  }

  /**
   * trackingCgroup gives an instance without a size a cgroup that limits nothing (see
   * createTrackingCgroup), so that its stop, and the reaper, end what left its process group with
   * setsid(). Undefined where none can be made (no cgroups, not root, no v2 delegation): the
   * instance then runs as before, stopped by process group only, which is said once.
   */
  #trackingCgroup(slot: Slot): InstanceCgroup | undefined {
    const layout = this.#layout();
    if (!layout || this.#untracked) return undefined;
    try {
      return createTrackingCgroup(layout, this.#group, `${slot.id}-${randomBytes(3).toString('hex')}`);
    } catch (err) {
      this.#untracked = true;
      this.#logger.info(
        { group: this.#group, err },
        `${this.#group}: instances run without a cgroup of their own (${(err as Error).message}); a stop ends each one's process group only, not a helper that left it with setsid`,
      );
      return undefined;
    }
  }

  #layout(): CgroupLayout | null {
    if (this.#cgroups === undefined) this.#cgroups = detectCgroups() ?? null;
    return this.#cgroups;
  }

  /**
   * instances lists every instance that is not stopped yet, oldest first, also one still starting
   * that has no process yet (waiting for its port, its fence, its cgroup): `starting`, no pid, its
   * address `host:0` until its port is reserved. Before, those were left out, so status and the API showed
   * fewer instances than the group had while one started (2 of 3 desired, none starting).
   */
  instances(): readonly Instance[] {
    return this.#slots.filter((s) => this.#listed(s)).map((s) => this.#snapshot(s));
  }

  /**
   * listed: shown by instances(). One without a process only while it is starting: one that failed
   * before it ran, or was stopped before it ran, is gone from the caller's point of view.
   */
  #listed(slot: Slot): boolean {
    return slot.pid !== undefined || (slot.state === 'starting' && !slot.stopRequested);
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
    const invalid = invalidInstanceCount(n);
    if (invalid) return Promise.reject(invalid);
    if (this.#closing && n > 0) {
      return Promise.reject(new ProviderError('CLOSED', `group ${this.#group} is closed`));
    }
    return this.#scale(n);
  }

  /** close drains and stops every instance and releases the reaper; safe to call twice. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing = true;
      clearInterval(this.#recordsTimer);
      this.#recordsTimer = undefined;
      clearTimeout(this.#backoffTimer);
      this.#backoffTimer = undefined;
      clearTimeout(this.#fencedRetry);
      this.#fencedRetry = undefined;
      this.#endPause();
      this.#generation++;
      this.#surge = 0;
      this.#endReplacement();
      await this.#scale(0);
      clearInterval(this.#adoptedTimer);
      this.#adoptedTimer = undefined;
      clearInterval(this.#logCapTimer);
      clearInterval(this.#logSummaryTimer);
      this.#cleanUpLogs();
      this.#releaseReaper();
    })();
    return this.#closed;
  }

  /**
   * release stops managing every instance without stopping any: they keep running, recorded in the
   * registry, for a successor (another controller) to adopt. A later start() adopts them again.
   * Only with a registry (without one, instances cannot outlive this provider: INVALID_ARGUMENT).
   */
  async release(): Promise<void> {
    if (!this.#registry) {
      throw new ProviderError('INVALID_ARGUMENT', `${this.#group}: release needs an instance registry`);
    }
    clearTimeout(this.#backoffTimer);
    this.#backoffTimer = undefined;
    clearTimeout(this.#fencedRetry);
    this.#fencedRetry = undefined;
    this.#endPause();
    clearInterval(this.#adoptedTimer);
    this.#adoptedTimer = undefined;
    clearInterval(this.#recordsTimer);
    this.#recordsTimer = undefined;
    this.#generation++;
    this.#surge = 0;
    this.#endReplacement();
    const released = this.#slots.filter((s) => s.state === 'starting' || s.state === 'ready');
    for (const slot of released) {
      const record = this.#recordOf(slot);
      if (record) this.#released.set(slot.id, record);
      // stopRequested makes every path that watches the slot (readiness, exit) leave it alone.
      slot.stopRequested = true;
      // Its port goes with it (to the next leader, perhaps in another process).
      this.#ports.release(slot.port);
      slot.abort.abort();
      // Our child still: without this its handle would keep this process alive after close.
      slot.child?.unref();
      clearTimeout(slot.availableTimer);
    }
    // Instances already draining or stopping finish stopping: that was decided while leading.
    this.#slots = this.#slots.filter((s) => !released.includes(s));
    this.#target = 0;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
    if (released.length > 0) {
      this.#logger.info(
        { group: this.#group, instances: released.map((s) => s.id) },
        `released ${released.length} instance(s) of ${this.#group}, left running for the next leader`,
      );
      this.emit('change');
    }
  }

  #scale(n: number): Promise<void> {
    this.#target = n;
    this.#fenced = false;
    this.#pollAdopted();
    if (this.#crashLoopPaused) {
      this.#endPause();
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
    // Re-read each time: a 'change' listener may move the target while we stop one.
    const target = () => this.#target + (this.#target > 0 ? this.#surge : 0);
    while (active.length > target()) {
      // Starting instances serve nobody yet, outdated ones (older than the last resize) go next,
      // and otherwise the newest ready ones have the least warm state.
      // During a resize a scale-in takes outdated instances first: taking the starting replacement
      // stalled the rollout until 3 x start_timeout and failed it (nothing was left to start it again).
      const outdated = this.#rolling === undefined ? [] : active.filter((s) => s.generation < this.#rolling!);
      const victim =
        active.find((s) => s.condemned) ??
        outdated.findLast((s) => s.state === 'starting') ??
        outdated.at(0) ??
        active.findLast((s) => s.state === 'starting') ??
        active.find((s) => s.generation < this.#generation) ??
        active.at(-1)!;
      this.#track(this.#stop(victim));
      active = live();
    }
    // Paused by a crash loop: only the periodic probe starts one instance.
    const probing = this.#crashLoopPaused && this.#probe;
    if (active.length < target() && (!this.#crashLoopPaused || probing) && !this.#closing && !this.#fenced) {
      const wait = probing ? 0 : this.#backoffUntil - this.#elapsed();
      if (wait > 0) {
        this.#backoffTimer ??= setTimeout(() => {
          this.#backoffTimer = undefined;
          this.#reconcile();
        }, wait);
      } else {
        this.#probe = false;
        for (let i = active.length, n = probing ? active.length + 1 : target(); i < n; i++) {
          const slot = new Slot(`${this.#group}-${this.#nextId++}`, this.#now());
          slot.generation = this.#generation;
          slot.size = this.#size;
          slot.spec = this.#spec;
          this.#slots.push(slot);
          this.#track(this.#launch(slot));
        }
        // Listed from now on (see instances), before its process starts.
        this.emit('change');
      }
    }
  }

  /** settle resolves the scaleTo promises once nothing is in flight and no more can happen now. */
  #settle(): void {
    // An adopted instance held unready (see watchAdopted) is as far as it gets until it passes.
    if (this.#waiters.length === 0 || this.#slots.some((s) => s.state !== 'ready' && !s.heldUnready)) return;
    const ready = this.#slots.length;
    const target = this.#target + (this.#target > 0 ? this.#surge : 0);
    // Paused by a crash loop or refused by the fence: nothing more will happen until told again.
    const reached = ready === target || (ready < target && (this.#crashLoopPaused || this.#fenced));
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
      slot.port = await this.#ports.reserve(config.host, this.#findPort);
    } catch (err) {
      slot.markExited({ code: null, signal: null });
      this.#startFailed(new InstanceError('SPAWN_FAILED', slot.id, 'no free port', { cause: err }));
      await this.#fail(slot, { code: null, signal: null }, 'no free port');
      return;
    }
    if (this.#fence && !slot.stopRequested) {
      try {
        await this.#fence(`start ${slot.id}`);
      } catch (err) {
        // Not leading any more, or not provably: start nothing until told again or asked anew.
        this.#fenced = true;
        this.#fencedRetry ??= setTimeout(() => {
          this.#fencedRetry = undefined;
          if (!this.#fenced || this.#closing) return;
          this.#fenced = false;
          this.#reconcile();
        }, START_FENCE_RETRY_MS).unref();
        slot.stopRequested = true;
        slot.markExited({ code: null, signal: null });
        this.#report(new ProviderError('FENCED', `${this.#group}: ${slot.id} not started`, { cause: err }));
      }
    }
    if (slot.stopRequested) {
      // Scaled in (or fenced) while we looked for a port: nothing was started. Handed over by
      // release() meanwhile, it is no longer listed and #remove does nothing: its port, reserved
      // after release() gave back the slot's none, is given back here. Before, it stayed held for
      // as long as this process ran (one more after each deposition that caught a start).
      if (!this.#slots.includes(slot)) this.#ports.release(slot.port);
      this.#remove(slot);
      return;
    }
    // One simple command replaces its shell: the pid we report is the app's (see execForm).
    let command = execForm(config.command);
    const env = instanceEnv(
      process.env,
      config.env,
      config.portEnv,
      slot.port,
      config.stopTimeout,
      this.#secretEnv(),
    );
    if (slot.size && (slot.size.cpu !== undefined || slot.size.memory !== undefined)) {
      try {
        const layout = this.#layout();
        if (!layout) throw new ProviderError('UNSUPPORTED', 'no usable cgroups on this machine');
        const key = `${slot.id}-${randomBytes(3).toString('hex')}`;
        const cgroup = createInstanceCgroup(layout, this.#group, key, slot.size);
        slot.cgroupDirs = [...cgroup.dirs];
        if (cgroup.cpuCappedAt) this.#warnCpuCapped(slot.size, cgroup.cpuCappedAt);
        env.SCALEPLANE_CGROUP_PROCS = cgroup.procsFiles.join(' ');
        // The shell joins the cgroups before it runs anything, so no child escapes the limits.
        command = cgroupShellPrefix() + command;
      } catch (err) {
        slot.markExited({ code: null, signal: null });
        this.#startFailed(
          new InstanceError('SPAWN_FAILED', slot.id, 'cannot apply its size', { cause: err }),
        );
        await this.#fail(slot, { code: null, signal: null }, 'cannot apply its size');
        return;
      }
    } else {
      const tracking = this.#trackingCgroup(slot);
      if (tracking) {
        slot.cgroupDirs = [...tracking.dirs];
        env.SCALEPLANE_CGROUP_PROCS = tracking.procsFiles.join(' ');
        command = cgroupShellPrefix(false) + command;
      }
    }
    const [file, ...args] = [...this.#wrapper, '/bin/sh', '-c', command];
    let logFd: number | undefined;
    if (this.#registry) {
      // A pipe would break when we die, and the instance with it: adoptable instances log to a file.
      try {
        const file = join(this.#instanceLogDir, `scaleplane-${slot.id}.log`);
        slot.ownLogFile = file;
        if (this.#createInstanceLogDir) ensurePrivateDir(this.#instanceLogDir);
        setAsidePreviousLog(file);
        // Created here, 0600, never through a name someone else made: a configured folder may be
        // shared (/tmp), and the file holds the app's output (opened with 'a', it was 0644 under
        // umask 022, readable by every local user, and a symlink planted there was followed).
        logFd = openSync(file, 'ax', 0o600);
      } catch (err) {
        // E.g. a full disk: a failed start like any other (backoff, crash loop), not a stuck slot.
        slot.markExited({ code: null, signal: null });
        this.#startFailed(
          new InstanceError('SPAWN_FAILED', slot.id, `cannot open its log file in ${this.#instanceLogDir}`, {
            cause: err,
          }),
        );
        await this.#fail(slot, { code: null, signal: null }, 'cannot open its log file');
        return;
      }
    }
    let child: ChildProcess;
    try {
      child = spawn(file!, args, {
        cwd: config.cwd,
        env,
        // Its own process group: we can signal the whole tree, and a terminal's Ctrl-C reaches only us.
        detached: true,
        stdio: logFd === undefined ? ['ignore', 'pipe', 'pipe'] : ['ignore', logFd, logFd],
      });
    } catch (err) {
      // spawn throws, rather than emitting 'error', for E2BIG (an env value or command over the
      // kernel's 128 KiB per string) and a NUL byte in the env or command. Uncaught here, the slot
      // stayed 'starting' for good: scaleTo never resolved and nothing was retried or reported
      // as a failed start. Now a failed start like any other (backoff, crash-loop count).
      if (logFd !== undefined) closeSync(logFd);
      slot.markExited({ code: null, signal: null });
      const e2big = (err as NodeJS.ErrnoException).code === 'E2BIG';
      const why = e2big
        ? 'spawn E2BIG: an env value or the command is longer than the kernel allows (128 KiB each)'
        : (err as Error).message;
      const error = new InstanceError('SPAWN_FAILED', slot.id, `cannot start: ${why}`, { cause: err });
      this.#startFailed(error);
      await this.#fail(slot, { code: null, signal: null }, error.message);
      return;
    }
    if (logFd !== undefined) closeSync(logFd);
    slot.child = child;
    if (logFd === undefined) slot.outputDone = new Promise((resolve) => child.once('close', () => resolve()));
    child.on('exit', (code, signal) => this.#onExit(slot, { code, signal }));
    let spawnError: Error | undefined;
    child.on('error', (err) => {
      // spawn reports a missing cwd as ENOENT of the program (`spawn /usr/bin/setpriv ENOENT`),
      // which sent operators looking for a missing binary.
      const missingCwd = (err as NodeJS.ErrnoException).code === 'ENOENT' && !existsSync(config.cwd);
      const what = missingCwd
        ? `cannot start: cwd ${config.cwd} does not exist`
        : `cannot run ${config.command}`;
      const error = new InstanceError('SPAWN_FAILED', slot.id, what, {
        cause: err,
      });
      if (slot.pid === undefined) spawnError = error;
      this.#report(error);
      // A spawn that failed has no pid and emits no 'exit'.
      if (slot.pid === undefined) this.#onExit(slot, { code: null, signal: null });
    });
    if (logFd === undefined) this.#openLogFile(slot);
    this.#forward(slot, child.stdout, 'stdout');
    this.#forward(slot, child.stderr, 'stderr');
    slot.pid = child.pid;
    if (slot.pid !== undefined) {
      if (this.#registry) {
        slot.startTime = processStartTime(slot.pid);
        this.#record(slot);
      } else
        this.#reaper.register(
          slot.pid,
          config.stopTimeout,
          slot.cgroupDirs.map((dir) => join(dir, 'cgroup.procs')),
        );
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
      slot.readySince = this.#elapsed();
      this.#availableAfter(slot, this.#config.minReady ?? 0);
      this.#logger.info(
        { group: this.#group, instance: slot.id, ms: slot.readyAt - slot.startedAt },
        `${slot.id} ready on ${this.#config.host}:${slot.port} after ${slot.readyAt - slot.startedAt} ms`,
      );
      if (this.#crashLoopPaused) {
        // It starts again (a database back, a bad deploy fixed): replace the rest as usual.
        this.#endPause();
        this.#logger.info(
          { group: this.#group, instance: slot.id },
          `crash loop over: ${slot.id} became ready; replacing crashed instances again`,
        );
      }
      this.emit('operation', { operation: 'start' });
      this.emit('change');
      this.#reconcile();
      return;
    }
    if (outcome === 'exited' && spawnError === undefined && (await this.#retryOnFreshPort(slot))) return;
    const message =
      outcome === 'exited' ? `exited before answering ${this.#healthPath}` : await this.#timeoutDetail(slot);
    const exit = outcome === 'exited' ? await this.#exitDetail(slot) : '';
    // Reported on `error` already when the process could not be spawned at all.
    this.emit('operation', {
      operation: 'start',
      error: spawnError ?? new InstanceError('START_FAILED', slot.id, `start failed: ${message}${exit}`),
    });
    await this.#fail(
      slot,
      slot.exit ?? { code: null, signal: null },
      spawnError?.message ?? `${message}${exit}`,
    );
  }

  /**
   * warnCpuCapped says, once per size, that instances get less CPU than their size: the limit of a
   * cgroup above them, Scaleplane's own (see createInstanceCgroup).
   */
  #warnCpuCapped(size: InstanceSize, ceiling: CpuCeiling): void {
    const key = `${size.cpu}/${ceiling.cores}/${ceiling.dir}`;
    if (this.#cpuCapWarned === key) return;
    this.#cpuCapWarned = key;
    const cores = `${ceiling.cores} core${ceiling.cores === 1 ? '' : 's'}`;
    this.#logger.warn(
      { group: this.#group, cpu: size.cpu, ceiling: ceiling.cores, cgroup: ceiling.dir },
      `${this.#group}: cpu ${size.cpu} is above the ${cores} of ${ceiling.dir} (cpu.cfs_quota_us), a cgroup Scaleplane runs in: its instances get at most ${cores}, all of them together with all else in that cgroup; their CPU % still reads against cpu ${size.cpu}`,
    );
  }

  /**
   * exitDetail says how an instance ended, for its failure message: the exit code or signal, an
   * OOM kill inside its cgroup (which a shell leader reports only as exit code 137), what 126/127
   * mean, and its last line of output, e.g. ` (exit code 127: command not found, check command;
   * last output: "sh: 1: exec: app: not found")`. Empty when nothing is known.
   */
  async #exitDetail(slot: Slot): Promise<string> {
    // The last lines may still be in the pipe when the exit is seen; bounded, as a grandchild can
    // hold the pipe open.
    const timer = new AbortController();
    await Promise.race([slot.outputDone, delay(500, undefined, { signal: timer.signal }).catch(() => {})]);
    timer.abort();
    const parts: string[] = [];
    const exit = slot.exit;
    if (exit?.signal) parts.push(`signal ${exit.signal}`);
    else if (exit?.code != null) parts.push(`exit code ${exit.code}`);
    if (oomKills(slot.cgroupDirs) > 0) {
      const limit = slot.size?.memory;
      parts.push(
        `killed by the kernel OOM killer at its memory limit${limit ? ` of ${Math.round(limit / 2 ** 20)} MiB` : ''}`,
      );
    } else if (exit?.code === 127) parts.push('command not found, check command');
    else if (exit?.code === 126) parts.push('command not executable, check command');
    // Exit code 0 with its children still running is what a daemonizing parent does.
    else if (slot.leftGroupRunning && exit?.code === 0)
      parts.push(
        'its other processes kept running: the command went to the background; keep the app in the foreground (no `&`, no daemon mode; `exec app`)',
      );
    else if (exit?.code != null && shellSignal(exit.code) !== undefined)
      parts.push(
        `killed by ${shellSignal(exit.code)} (its shell reports a signal as 128 + its number, here ${exit.code - 128})`,
      );
    const joined = parts.length > 1 ? `${parts[0]}: ${parts.slice(1).join(', ')}` : (parts[0] ?? '');
    const all = [joined, quoteOutput(slot.lastOutput) ?? ''].filter((p) => p !== '').join('; ');
    return all === '' ? '' : ` (${all})`;
  }

  /**
   * timeoutDetail says why an instance still running at its start_timeout never became ready. An
   * app that ignores $PORT failed with only "did not answer /healthz within N ms"; one TCP connect
   * now tells a port nobody listens on from a health check that fails.
   */
  async #timeoutDetail(slot: Slot): Promise<string> {
    const { message, hint } = startTimeoutReason({
      address: formatAddress(this.#config.host, slot.port),
      portEnv: this.#config.portEnv,
      healthPath: this.#healthPath,
      timeoutMs: this.#config.startTimeout,
      probeTimeoutMs: this.#healthTimeout,
      port: await probePort(this.#config.host, slot.port, PROBE_TIMEOUT_MS),
      lastProbe: slot.lastProbe,
    });
    const notes = [hint, quoteOutput(slot.lastOutput)].filter((n) => n !== undefined);
    return notes.length === 0 ? message : `${message} (${notes.join('; ')})`;
  }

  async #waitReady(slot: Slot): Promise<'ready' | 'exited' | 'timeout' | 'stopped'> {
    // No health path (a worker group): running is ready.
    if (this.#healthPath === '') {
      if (!slot.abort.signal.aborted) return 'ready';
      return slot.stopRequested ? 'stopped' : 'exited';
    }
    // A deadline, not AbortSignal.timeout: held only by AbortSignal.any, that one can be
    // garbage-collected before it fires (Node 20), and an app that never listened stayed
    // 'starting' for good (seen: 60 s, until it exited by itself) instead of failing at the timeout.
    const limit = deadline(this.#config.startTimeout, slot.abort.signal);
    const { signal } = limit;
    try {
      while (!signal.aborted) {
        const answer = await probeHealth(
          this.#config.host,
          slot.port,
          this.#healthPath,
          this.#healthTimeout,
          signal,
        );
        if (signal.aborted) break;
        slot.lastProbe = answer;
        if (healthy(answer)) return 'ready';
        await delay(this.#healthInterval, undefined, { signal, ref: false }).catch(() => {});
      }
    } finally {
      limit.clear();
    }
    if (slot.stopRequested) return 'stopped';
    return slot.exit ? 'exited' : 'timeout';
  }

  #onExit(slot: Slot, info: ExitInfo): void {
    if (slot.exit) return;
    slot.exit = info;
    // Read now, before anything signals the group: what was left running once the leader exited.
    if (!slot.stopRequested && !slot.adopted && slot.pid !== undefined)
      slot.leftGroupRunning = this.#ownsGroup(slot, slot.pid) && groupAlive(slot.pid);
    slot.markExited(info);
    slot.abort.abort();
    if (slot.stopRequested) return;
    if (slot.state === 'ready') {
      this.#track(
        (async () => {
          // Marked now, so nothing routes to it, counts it or stops it while the detail is read.
          slot.stopRequested = true;
          slot.state = 'failed';
          this.emit('change');
          await this.#fail(slot, info, `exited unexpectedly${await this.#exitDetail(slot)}`);
        })(),
      );
    }
    // A starting instance: #waitReady sees the abort and fails it.
  }

  /**
   * retryOnFreshPort handles a start that failed because its port was taken (by another program
   * between freePort and the instance's bind): not a crash of the app, so no backoff and no
   * crash-loop count; a new instance starts at once on another port. At most MAX_PORT_RETRIES in a
   * row, so an app that binds a fixed port of its own (EADDRINUSE each time) still fails as a crash.
   * Returns false (nothing done) when the failure was not about the port.
   */
  async #retryOnFreshPort(slot: Slot): Promise<boolean> {
    if (slot.portRetries >= MAX_PORT_RETRIES || this.#closing || this.#fenced || slot.stopRequested)
      return false;
    // Its last lines may still be in the pipe (bounded, as in exitDetail).
    const timer = new AbortController();
    await Promise.race([slot.outputDone, delay(500, undefined, { signal: timer.signal }).catch(() => {})]);
    timer.abort();
    const portAfterExit = slot.saidAddressInUse
      ? 'skipped'
      : await probePort(this.#config.host, slot.port, PROBE_TIMEOUT_MS);
    if (
      !lostItsPort({
        saidAddressInUse: slot.saidAddressInUse,
        portAfterExit,
        leftGroupRunning: slot.leftGroupRunning,
      })
    )
      return false;
    if (this.#closing || this.#fenced || slot.stopRequested) return false;
    slot.stopRequested = true;
    slot.state = 'failed';
    const next = new Slot(`${this.#group}-${this.#nextId++}`, this.#now());
    next.generation = slot.generation;
    next.size = slot.size;
    next.spec = slot.spec;
    next.portRetries = slot.portRetries + 1;
    this.#logger.warn(
      { group: this.#group, instance: slot.id, port: slot.port, next: next.id },
      `${slot.id} could not listen on ${this.#config.host}:${slot.port}: the port was taken; starting ${next.id} on another port (not counted as a crash)`,
    );
    if (slot.logPath !== undefined) this.#dropOldFailedLogs(this.#pipedLogs.ended(slot.logPath, 'failed'));
    // In the slot list before the old one leaves it, so #remove's reconcile starts no other.
    this.#slots.push(next);
    this.#track(this.#launch(next));
    await this.#terminate(slot);
    this.#remove(slot);
    return true;
  }

  /** fail handles an instance that exited on its own or never became ready: report, clean up, replace. */
  async #fail(slot: Slot, detail: ExitInfo, reason: string): Promise<void> {
    slot.stopRequested = true;
    slot.state = 'failed';
    this.#lastFailure = { generation: slot.generation, id: slot.id, reason };
    const file = this.#logFileOf(slot);
    // Kept on close, unlike a cleanly stopped instance's: its output says why it failed.
    if (slot.logPath !== undefined) this.#dropOldFailedLogs(this.#pipedLogs.ended(slot.logPath, 'failed'));
    this.#logger.warn(
      {
        group: this.#group,
        instance: slot.id,
        code: detail.code,
        signal: detail.signal,
        reason,
        ...(file !== undefined && { file }),
      },
      file === undefined ? 'instance failed' : `instance failed; its output is in ${file}`,
    );
    const loop = this.#recordCrash(slot);
    this.emit('crash', this.#snapshot(slot), { ...detail, reason });
    if (loop) this.emit('crashLoop', loop);
    this.emit('change');
    await this.#terminate(slot);
    this.#remove(slot);
  }

  /** recordCrash updates backoff and crash-loop state; it returns the crashLoop detail when this crash starts a pause. */
  #recordCrash(slot: Slot): ProviderEvents['crashLoop'][0] | undefined {
    const now = this.#elapsed();
    this.#crashCount++;
    const mark = { at: now, generation: slot.generation };
    this.#crashStreak = streakWith(this.#crashStreak, mark, {
      readySince: slot.readySince,
      resetAfterMs: this.#backoff.resetAfterMs,
      startTimeoutMs: this.#config.startTimeout,
      backoff: this.#backoff,
    });
    // Equal jitter: between half and all of the base, so replicas that crash together spread out.
    this.#backoffUntil = backoffUntil(this.#crashStreak, this.#backoff, this.#random());

    const windowMs = this.#config.crashLoopWindow;
    this.#crashTimes = [...this.#crashTimes.filter((c) => now - c.at < windowMs), mark];
    if (this.#crashTimes.length > this.#config.crashLoopLimit && !this.#crashLoopPaused) {
      this.#crashLoopPaused = true;
      this.#pausedBy = slot.generation;
      clearTimeout(this.#backoffTimer);
      this.#backoffTimer = undefined;
      this.#logger.error(
        { group: this.#group, crashes: this.#crashTimes.length, windowMs },
        `crash loop: replacement paused until the next scaleTo; one instance tried every ${this.#backoff.pausedRetryMs} ms`,
      );
      this.#scheduleProbe();
      return { group: this.#group, crashes: this.#crashTimes.length, windowMs };
    }
    // A probe that failed: the next one after another interval.
    if (this.#crashLoopPaused) this.#scheduleProbe();
    return undefined;
  }

  /**
   * scheduleProbe lets a paused group start one instance after `pausedRetryMs`. Without it a pause
   * lasted until the policy changed the count, which a steady group never does: a dependency down
   * for a minute left it below its desired count (0 of 2) for good, `crash-loop` alert firing.
   */
  #scheduleProbe(): void {
    clearTimeout(this.#probeTimer);
    this.#probeTimer = setTimeout(() => {
      this.#probeTimer = undefined;
      if (!this.#crashLoopPaused) return;
      this.#probe = true;
      this.#logger.info({ group: this.#group }, 'crash loop: trying one instance');
      this.#reconcile();
    }, this.#backoff.pausedRetryMs);
  }

  #endPause(): void {
    this.#crashLoopPaused = false;
    this.#pausedBy = undefined;
    this.#probe = false;
    clearTimeout(this.#probeTimer);
    this.#probeTimer = undefined;
  }

  /** stop drains (if it served traffic), then terminates the instance's process group; once per instance. */
  #stop(slot: Slot): Promise<void> {
    slot.stopped ??= this.#stopNow(slot);
    return slot.stopped;
  }

  async #stopNow(slot: Slot): Promise<void> {
    slot.stopRequested = true;
    slot.abort.abort();
    if (slot.state === 'ready') {
      slot.state = 'draining';
      this.emit('change');
      // Recorded before the drain hook runs: its wait is what gives standbys time to see it.
      await this.#recordDraining(slot);
      try {
        await this.#drain(this.#snapshot(slot));
      } catch (err) {
        this.#report(
          new InstanceError('DRAIN_FAILED', slot.id, 'drain hook failed; stopping anyway', { cause: err }),
        );
      }
    }
    // Not spawned yet: #launch sees stopRequested after its port lookup and removes the slot.
    if (!slot.child && !slot.adopted) return;
    if (!(await this.#mayStop(slot))) return;
    slot.state = 'stopping';
    this.emit('change');
    this.#logger.info(
      { group: this.#group, instance: slot.id, pid: slot.pid },
      `${slot.id} drained; stopping it (SIGTERM, SIGKILL after ${this.#config.stopTimeout} ms)`,
    );
    await this.#terminate(slot);
    slot.state = 'stopped';
    if (slot.logPath !== undefined) this.#pipedLogs.ended(slot.logPath, 'stopped');
    this.#remove(slot);
  }

  /**
   * mayStop asks the fence (with a lease) right before an instance is terminated, as #launch does
   * before a start. A stop decided while leading can outlive the lease: the drain waits (two standby
   * read intervals, then the requests in flight), and a leader paused there (GC, SIGSTOP, a
   * partition) wakes deposed, its successor having adopted the instance meanwhile (recorded,
   * serving again, counted). Terminating it then was a deposed leader acting: measured with two
   * `scaleplane up` mid-roll (test/integration/ha-takeover-resize.test.ts), the paused leader
   * SIGTERMed web-1 after its successor had adopted it. Refused, the instance is handed over as
   * release() does: left running and recorded, dropped from this provider. A check that got no
   * answer (store unreachable) is asked again: the lease watchdog deposes within its ttl, after
   * which the refusal is certain (bounded by STOP_FENCE_RETRIES in any case).
   */
  async #mayStop(slot: Slot): Promise<boolean> {
    if (!this.#fence) return true;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#fence(`stop ${slot.id}`);
        return true;
      } catch (err) {
        const unanswered = (err as { cause?: unknown }).cause !== undefined;
        if (unanswered && attempt < STOP_FENCE_RETRIES && !this.#closing) {
          await new Promise((r) => setTimeout(r, STOP_FENCE_RETRY_MS));
          continue;
        }
        slot.child?.unref();
        this.#slots = this.#slots.filter((s) => s !== slot);
        this.#logger.warn(
          { group: this.#group, instance: slot.id, pid: slot.pid, err },
          `${slot.id} not stopped: ${(err as Error).message}; left running for the next leader`,
        );
        this.emit('change');
        return false;
      }
    }
  }

  /**
   * terminate ends the whole process group, and every process of its cgroups (a sized instance):
   * SIGTERM, then SIGKILL after stopTimeout. The cgroup catches what left the group with setsid()
   * (a daemon, `setsid helper &`), as systemd's KillMode=control-group does: signalled by group
   * only, such a process outlived the stop in the instance's cgroup, which then could not be
   * removed.
   */
  async #terminate(slot: Slot): Promise<void> {
    const pgid = slot.pid;
    if (pgid === undefined) return;
    try {
      // Even when the leader already exited, the rest of its group may still run; but once the
      // leader is reaped and the group empty, its pid may be another process's (see groupOwner).
      if (this.#ownsGroup(slot, pgid, true)) signalGroup(pgid, 'SIGTERM');
      signalCgroups(slot.cgroupDirs, 'SIGTERM');
      if (!(await this.#waitGone(slot, pgid, this.#config.stopTimeout))) {
        this.#logger.warn(
          { group: this.#group, instance: slot.id, pid: pgid, stopTimeout: this.#config.stopTimeout },
          'instance ignored SIGTERM; sending SIGKILL',
        );
        if (this.#ownsGroup(slot, pgid)) signalGroup(pgid, 'SIGKILL');
        signalCgroups(slot.cgroupDirs, 'SIGKILL');
        if (!(await this.#waitGone(slot, pgid, KILL_WAIT_MS))) {
          // Keep the reaper registration: it retries when this process exits.
          throw new Error(`process group ${pgid} survived SIGKILL for ${KILL_WAIT_MS} ms`);
        }
      }
      if (!this.#registry) this.#reaper.unregister(pgid);
    } catch (err) {
      this.#report(
        new InstanceError('STOP_FAILED', slot.id, 'cannot stop its process group', { cause: err }),
      );
    }
  }

  /** waitGone waits (bounded) for the leader's exit event and then for the group to empty. */
  async #waitGone(slot: Slot, pgid: number, ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    if (slot.adopted) {
      // Not our child: no exit event, only /proc tells.
      while (this.#treeAlive(slot, pgid)) {
        const left = deadline - performance.now();
        if (left <= 0) return false;
        await delay(Math.min(GROUP_POLL_MS, left));
      }
      slot.markExited(slot.exit ?? { code: null, signal: null });
      slot.exit ??= { code: null, signal: null };
      return true;
    }
    const timer = new AbortController();
    await Promise.race([
      slot.exited,
      delay(ms, undefined, { signal: timer.signal, ref: false }).catch(() => {}),
    ]);
    timer.abort();
    if (!slot.exit) return false;
    while (this.#treeAlive(slot, pgid)) {
      const left = deadline - performance.now();
      if (left <= 0) return false;
      await delay(Math.min(GROUP_POLL_MS, left));
    }
    return true;
  }

  /** treeAlive: a process of the instance's group, or of its cgroups, still runs. */
  #treeAlive(slot: Slot, pgid: number): boolean {
    // A group that reuses its pid is another's: waiting for it to end was a stop timing out, then
    // SIGKILLing it.
    return (this.#ownsGroup(slot, pgid) && groupAlive(pgid)) || cgroupPids(slot.cgroupDirs).length > 0;
  }

  /**
   * ownsGroup tells whether `pgid` still names the instance's process group (see groupOwner),
   * read right before each use; `say` logs it when not (once per stop).
   */
  #ownsGroup(slot: Slot, pgid: number, say = false): boolean {
    const child = slot.child;
    const reaped = slot.adopted || !child || child.exitCode !== null || child.signalCode !== null;
    const { ours } = groupOwner({ reaped, startTime: slot.startTime }, readProcStat(pgid));
    if (!ours && say)
      this.#logger.warn(
        { group: this.#group, instance: slot.id, pid: pgid },
        `${slot.id}'s leader (pid ${pgid}) is gone and its pid now belongs to another process: its process group is not signalled`,
      );
    return ours;
  }

  #remove(slot: Slot): void {
    clearTimeout(slot.availableTimer);
    if (!this.#slots.includes(slot)) return;
    // Read before it leaves: one that never ran may have been listed (see instances).
    const wasListed = slot.pid !== undefined || slot.state === 'starting';
    this.#slots = this.#slots.filter((s) => s !== slot);
    // Gone (stopped, failed, or never started): its port may be handed out again.
    this.#ports.release(slot.port);
    if (slot.cgroupDirs.length > 0) void removeCgroupDirsOnceEmpty(slot.cgroupDirs);
    if (this.#registry && slot.pid !== undefined) this.#track(this.#registry.remove(this.#group, slot.id));
    if (wasListed) this.emit('change');
    this.#reconcile();
  }

  /**
   * openLogFile gives a piped instance its log file, `scaleplane-<id>.log` in this provider's own
   * folder under logDir (cut like an adoptable instance's): our log gets its lines only up to
   * `log_lines_per_second`, the file all of them. A file that cannot be written is reported once;
   * the output is still logged.
   */
  #openLogFile(slot: Slot): void {
    slot.lineRate = new LineRate(
      {
        ...(this.#config.logLinesPerSecond !== undefined && {
          linesPerSecond: this.#config.logLinesPerSecond,
        }),
        intervalMs: this.#logSummaryInterval,
      },
      this.#elapsed(),
    );
    let file: string;
    try {
      const opened = this.#pipedLogs.open(slot.id);
      file = opened.file;
      if (opened.swept.length > 0) {
        this.#logger.info(
          { group: this.#group, logDir: this.#logDir, swept: opened.swept },
          `removed ${opened.swept.length} log folder(s) of controllers no longer running, untouched for 24 h, from ${this.#logDir}`,
        );
      }
    } catch (err) {
      this.#logger.warn(
        { group: this.#group, instance: slot.id, logDir: this.#logDir, err },
        `${slot.id}: cannot create its log folder in ${this.#logDir}; its output goes to this log only`,
      );
      return;
    }
    slot.logPath = file;
    const out = createWriteStream(file, { flags: 'a' });
    slot.logFile = out;
    out.on('error', (err) => {
      if (slot.logFile !== out) return;
      slot.logFile = undefined;
      this.#logger.warn(
        { group: this.#group, instance: slot.id, file, err },
        `${slot.id}: cannot write its log file ${file}; its output goes to this log only`,
      );
    });
    slot.outputDone.then(() => {
      // Its pipes are read to the end: the count of what the last interval left out is due now.
      this.#logLeftOut(true, slot);
      out.end();
      if (slot.logFile === out) slot.logFile = undefined;
    });
  }

  #forward(slot: Slot, stream: Readable | null, name: 'stdout' | 'stderr'): void {
    if (!stream) return;
    stream.on('error', () => {});
    // Read as it comes, so a chatty child never blocks on a full pipe; lines are bounded, so one
    // that never ends cannot grow our heap (see LineSplitter).
    const splitter = new LineSplitter();
    const log = (line: string) => {
      if (line.trim() !== '') slot.lastOutput = line;
      if (!slot.saidAddressInUse && saysAddressInUse(line)) slot.saidAddressInUse = true;
      // One instance printing in a loop (300,000+ lines/s) flooded our log and took our CPU: over
      // its rate, lines are only counted (they are in its file) and summed up once per interval.
      if (slot.lineRate !== undefined && !slot.lineRate.admit(this.#elapsed())) return;
      this.#logger.info({ group: this.#group, instance: slot.id, stream: name }, line);
    };
    stream.on('data', (chunk: Buffer) => {
      const file = slot.logFile;
      // The file is written as it comes (every byte, long lines whole); a slower disk holds the
      // pipe, and so the instance, instead of our heap.
      if (file !== undefined && !file.write(chunk)) {
        stream.pause();
        const resume = () => {
          file.off('drain', resume);
          file.off('close', resume);
          stream.resume();
        };
        file.on('drain', resume);
        file.on('close', resume);
      }
      for (const line of splitter.push(chunk)) log(line);
    });
    stream.on('end', () => {
      for (const line of splitter.end()) log(line);
    });
  }

  /**
   * logLeftOut writes, per piped instance (or `only`), how many of its lines the rate limit left
   * out of the log in the interval that ended; `force` ends the interval now (its output ended).
   */
  #logLeftOut(force: boolean, only?: Slot): void {
    const now = this.#elapsed();
    for (const slot of only ? [only] : this.#slots) {
      const leftOut = slot.lineRate?.summary(now, force);
      if (leftOut === undefined) continue;
      const file = this.#logFileOf(slot);
      const seconds = Math.max(1, Math.round(leftOut.sinceMs / 1000));
      const rate = slot.lineRate!.linesPerSecond;
      this.#logger.warn(
        {
          group: this.#group,
          instance: slot.id,
          linesLeftOut: leftOut.lines,
          ...(file !== undefined && { file }),
        },
        `${slot.id}: ${leftOut.lines.toLocaleString('en-US')} lines not forwarded in the last ${seconds} s (rate limit ${rate}/s); ${file === undefined ? 'no log file has them' : `they are in ${file}`}`,
      );
    }
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
      ...(slot.size && { size: slot.size }),
    });
  }

  /**
   * record writes the instance's record to the registry, and writes it again every
   * RECORD_RETRY_MS while that fails and the instance is still this provider's and not stopping.
   * Before, a failed write (a Redis refusing writes for a few seconds, a timeout) was reported and
   * never tried again: the instance ran unrecorded, so no standby routed to it and the next leader
   * did not adopt it (it ran on unmanaged beside the one started in its place). A refusal by the
   * lease (STATE_FENCED) is not retried: this controller no longer leads.
   */
  #record(slot: Slot): void {
    if (this.#registry && this.#recordOf(slot)) void this.#recordUntilStored(this.#registry, slot);
  }

  async #recordUntilStored(registry: LocalInstanceRegistry, slot: Slot): Promise<void> {
    slot.recording = true;
    try {
      await this.#putUntilStored(registry, slot);
    } finally {
      slot.recording = false;
    }
  }

  async #putUntilStored(registry: LocalInstanceRegistry, slot: Slot): Promise<void> {
    for (let failures = 0; ; failures++) {
      const record = this.#recordOf(slot);
      if (!record || slot.stopRequested || !this.#slots.includes(slot)) return;
      try {
        await registry.put(this.#group, record);
        if (failures > 0)
          this.#logger.info(
            { group: this.#group, instance: slot.id, failures },
            `${slot.id} recorded after ${failures} failed write(s)`,
          );
        return;
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        if ((err as { code?: string }).code === 'STATE_FENCED') return this.#report(error);
        // Said once: the next tries fail alike until the store takes writes again.
        if (failures === 0)
          this.#report(
            new ProviderError(
              'RECORD_FAILED',
              `${slot.id} (pid ${record.pid}) could not be recorded (${error.message}); trying again every ${RECORD_RETRY_MS / 1000} s`,
              { cause: err },
            ),
          );
        await new Promise((resolve) => setTimeout(resolve, RECORD_RETRY_MS).unref());
      }
    }
  }

  /** recordDraining marks the instance draining in the registry; a failed write is reported, not thrown. */
  async #recordDraining(slot: Slot): Promise<void> {
    const record = this.#recordOf(slot);
    if (!this.#registry || !record) return;
    try {
      await this.#registry.put(this.#group, { ...record, draining: true });
    } catch (err) {
      this.#report(
        err instanceof Error ? err : new ProviderError('STOP_FAILED', String(err), { cause: err }),
      );
    }
  }

  #recordOf(slot: Slot): LocalInstanceRecord | undefined {
    if (slot.pid === undefined || slot.startTime === undefined) return undefined;
    return {
      id: slot.id,
      pid: slot.pid,
      port: slot.port,
      startTime: slot.startTime,
      startedAt: slot.startedAt,
      ...(slot.size && { size: slot.size }),
      ...(slot.spec !== undefined && { spec: slot.spec }),
      ...(slot.cgroupDirs.length > 0 && { cgroupDirs: slot.cgroupDirs }),
      ...(slot.ownLogFile !== undefined && { logFile: slot.ownLogFile }),
    };
  }

  /**
   * watchAdopted waits for an adopted instance's health path, like a start, then marks it ready.
   * One that still runs at start_timeout and answers its health path with a failure status (a
   * dependency down: 503) is kept, out of rotation, and probed on until it passes, exits or is
   * stopped, as a running pod that is not Ready is kept; it no longer holds up scaleTo meanwhile.
   * Before, a restart or takeover during such an outage killed every adopted instance at
   * start_timeout as a failed start (their replacements then failed too, into a crash-loop pause),
   * where the leader before it had kept them out of rotation (HeldPanic) until the dependency was
   * back. One that does not answer at all (hung, not listening) still fails as before.
   */
  async #watchAdopted(slot: Slot): Promise<void> {
    let outcome = await this.#waitReady(slot);
    while (outcome === 'timeout' && slot.lastProbe !== undefined && 'status' in slot.lastProbe) {
      if (!slot.heldUnready) {
        slot.heldUnready = true;
        this.#logger.warn(
          { group: this.#group, instance: slot.id, pid: slot.pid, status: slot.lastProbe.status },
          `adopted ${slot.id} (pid ${slot.pid}) runs but ${this.#healthPath} answers ${slot.lastProbe.status} after ${this.#config.startTimeout} ms; kept out of rotation until it passes`,
        );
        this.#settle();
      }
      outcome = await this.#waitReady(slot);
    }
    slot.heldUnready = false;
    if (outcome === 'stopped') return;
    if (outcome === 'ready') {
      slot.state = 'ready';
      slot.readyAt = this.#now();
      slot.readySince = this.#elapsed();
      this.#availableAfter(slot, 0);
      this.emit('change');
      this.#reconcile();
      return;
    }
    await this.#fail(slot, slot.exit ?? { code: null, signal: null }, 'adopted instance is not healthy');
  }

  /**
   * logFileOf is where an instance's output goes: the file it writes itself when adoptable (as
   * recorded when adopted), the one in this provider's folder when piped; undefined when it has
   * none (not started, folder refused).
   */
  #logFileOf(slot: Slot): string | undefined {
    if (this.#registry) return slot.ownLogFile;
    return slot.logPath;
  }

  /**
   * dropOldFailedLogs reports failed instances' files deleted to keep only the newest ones: once,
   * at the first, so that a crash loop does not add a line per crash.
   */
  #dropOldFailedLogs(dropped: string[]): void {
    if (dropped.length === 0 || this.#failedLogsDropped) return;
    this.#failedLogsDropped = true;
    this.#logger.info(
      { group: this.#group, dropped, kept: this.#pipedLogs.keptFailed },
      `deleted ${dropped.join(', ')}: only the log files of the newest ${this.#pipedLogs.keptFailed} failed instances of ${this.#group} are kept (said once)`,
    );
  }

  /**
   * cleanUpLogs, on close, removes the files of piped instances that stopped cleanly (a new run
   * never appends to them, and repeated runs do not pile them up) and keeps, saying where, those
   * of instances that failed. A file that cannot be removed is reported, not thrown.
   */
  #cleanUpLogs(): void {
    try {
      const { folder, removed, kept, folderRemoved } = this.#pipedLogs.cleanUp();
      if (folder === undefined) return;
      if (kept.length > 0) {
        this.#logger.info(
          { group: this.#group, folder, removed: removed.length, kept },
          `kept the log files of ${kept.length} failed instance(s) of ${this.#group} in ${folder}`,
        );
      } else if (folderRemoved) {
        this.#logger.info(
          { group: this.#group, folder, removed: removed.length },
          `removed ${folder}: every instance of ${this.#group} stopped cleanly`,
        );
      }
    } catch (err) {
      this.#logger.warn({ group: this.#group, err }, `cannot remove the log files of ${this.#group}`);
    }
  }

  /** capLogs cuts the log files of this group's instances that outgrew maxLogBytes. */
  #capLogs(): void {
    for (const slot of this.#slots) {
      if (slot.pid === undefined) continue;
      const file = this.#logFileOf(slot);
      if (file === undefined) continue;
      try {
        const cut = capLogFile(file, this.#maxLogBytes, Math.min(KEEP_LOG_BYTES, this.#maxLogBytes));
        if (cut > 0 && !this.#logCut.has(slot.id)) {
          this.#logCut.add(slot.id);
          this.#logger.warn(
            { group: this.#group, instance: slot.id, file, bytes: cut },
            `${slot.id}: log file ${file} passed ${this.#maxLogBytes} bytes; cut, its last part kept in ${file}.1 (each time it grows so)`,
          );
        }
      } catch (err) {
        this.#logger.warn(
          { group: this.#group, instance: slot.id, file, err },
          `cannot cut log file ${file}`,
        );
      }
    }
  }

  /** pollAdopted checks adopted instances for exit while any is left (they send us no SIGCHLD). */
  /**
   * watchRecords checks every RECORD_CHECK_MS, from start() until release() or close(), that the
   * registry still records each instance this provider runs, and records again those it lost. A
   * store that lost writes it had acknowledged (a Redis failed over to a replica that was behind,
   * reached again under the same lease) no longer listed the instances started just before: no
   * standby routed to them, and a successor did not adopt them but left them running unmanaged and
   * started others in their place. One whose id the store now gives another process is left alone.
   */
  #watchRecords(): void {
    if (!this.#registry || this.#recordsTimer) return;
    this.#recordsTimer = setInterval(() => void this.#recordLost(), RECORD_CHECK_MS);
    this.#recordsTimer.unref();
  }

  async #recordLost(): Promise<void> {
    const registry = this.#registry;
    if (!registry || this.#checkingRecords) return;
    this.#checkingRecords = true;
    try {
      // Only those recorded before the list was asked for: a record written meanwhile is not lost.
      const settled = this.#slots.filter((s) => s.pid !== undefined && !s.recording);
      const records = await registry.list(this.#group);
      if (this.#recordsTimer === undefined) return;
      for (const slot of settled) {
        if (slot.stopRequested || slot.recording || !this.#slots.includes(slot)) continue;
        if (slot.startTime === undefined || records.some((r) => r.id === slot.id)) continue;
        this.#logger.warn(
          { group: this.#group, instance: slot.id, pid: slot.pid },
          `${slot.id} (pid ${slot.pid}) is no longer recorded (the state store lost it: a failover to a replica behind?); recording it again`,
        );
        this.#record(slot);
      }
    } catch {
      // The store did not answer: the next check asks again (a failed record write is retried on its own).
    } finally {
      this.#checkingRecords = false;
    }
  }

  #pollAdopted(): void {
    if (this.#adoptedTimer || !this.#slots.some((s) => s.adopted)) return;
    this.#adoptedTimer = setInterval(() => {
      const adopted = this.#slots.filter((s) => s.adopted && !s.exit);
      if (adopted.length === 0 && !this.#slots.some((s) => s.adopted)) {
        clearInterval(this.#adoptedTimer);
        this.#adoptedTimer = undefined;
        return;
      }
      for (const slot of adopted) {
        if (processStartTime(slot.pid!) !== slot.startTime) this.#onExit(slot, { code: null, signal: null });
      }
    }, this.#adoptedPollInterval);
    this.#adoptedTimer.unref();
  }

  #track(work: Promise<void>): void {
    work.catch((err: unknown) =>
      this.#report(
        err instanceof Error ? err : new ProviderError('STOP_FAILED', String(err), { cause: err }),
      ),
    );
  }

  /** startFailed reports an instance that could not be started before it was spawned: on `error`, and as a failed `start`. */
  #startFailed(err: InstanceError): void {
    this.emit('operation', { operation: 'start', error: err });
    this.#report(err);
  }

  /** report sends a background failure to `error` listeners, or to the logger when there are none. */
  #report(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    else this.#logger.error({ group: this.#group, err }, err.message);
  }
}

/**
 * setAsidePreviousLog renames the log file an earlier instance of the same id left (ids start at
 * `web-1` again after a restart that adopted none) to `<file>.prev`, replacing the one before, so a
 * new adoptable instance's file holds its own output only. Before, it appended to the earlier one's:
 * a failure's 'its output is in …/scaleplane-web-1.log' led to another process's output first, as
 * the piped files once did. No file there: nothing to do.
 */
export function setAsidePreviousLog(file: string): void {
  try {
    renameSync(file, `${file}.prev`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** processStartTime is `/proc/<pid>/stat` field 22, or undefined when the pid is gone or a zombie. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return stat && stat.state !== 'Z' ? stat.starttime : undefined;
  } catch {
    return undefined;
  }
}

/**
 * mergeSize is the size a resize `change` gives when `current` is in force: the limits it names,
 * the others as they are, as `kubectl set resources --limits=cpu=1` (a strategic merge patch)
 * keeps a container's memory limit. Before, `resize web cpu=1` replaced every instance with one
 * without the memory limit of the config or of an earlier resize.
 */
export function mergeSize(current: InstanceSize | undefined, change: InstanceSize): InstanceSize {
  const cpu = change.cpu ?? current?.cpu;
  const memory = change.memory ?? current?.memory;
  return { ...(cpu !== undefined && { cpu }), ...(memory !== undefined && { memory }) };
}

/** sameSize compares two sizes by their fields (an undefined field equals an absent one). */
export function sameSize(a: InstanceSize | undefined, b: InstanceSize | undefined): boolean {
  return a?.cpu === b?.cpu && a?.memory === b?.memory && a?.instanceType === b?.instanceType;
}

/** MIN_MEMORY is the smallest memory limit a resize may ask for (4 MiB). */
const MIN_MEMORY = 4 * 1024 * 1024;

/**
 * validateSize checks a resize request: positive CPU, memory in whole bytes from 4 MiB up to
 * Number.MAX_SAFE_INTEGER (a larger number is not exact: `99999999Ti`, 1.1e20 bytes, more than a
 * cgroup limit holds, was accepted and every instance rolled to it). Its INVALID_ARGUMENT message
 * starts with the field, as the API's other 400s do (`memory: …`).
 */
export function validateSize(size: InstanceSize): void {
  const fail = (field: string, what: string) => {
    throw new ProviderError('INVALID_ARGUMENT', `${field}: ${what}`);
  };
  if (size.cpu === undefined && size.memory === undefined && size.instanceType === undefined)
    fail('resize', 'give cpu, memory or an instance type');
  if (size.cpu !== undefined && !(Number.isFinite(size.cpu) && size.cpu > 0))
    fail('cpu', `must be > 0 cores, got ${size.cpu}`);
  if (size.memory !== undefined && !(Number.isSafeInteger(size.memory) && size.memory >= MIN_MEMORY))
    fail(
      'memory',
      `must be whole bytes from 4Mi (${MIN_MEMORY}) to ${Number.MAX_SAFE_INTEGER}, got ${size.memory}`,
    );
}

function validate(options: LocalProviderOptions): void {
  const { config } = options;
  const fail = (what: string) => {
    throw new ProviderError('INVALID_ARGUMENT', `local provider ${options.group}: ${what}`);
  };
  if (!options.group) fail('group name is empty');
  if (!config.command.trim()) fail('command is empty');
  if (!config.portEnv) fail('port_env is empty');
  // Empty means a worker: ready once it runs.
  if (options.healthPath !== '' && !options.healthPath.startsWith('/')) {
    fail(`health path must start with / (or be empty for a worker), got ${options.healthPath}`);
  }
  for (const key of ['startTimeout', 'crashLoopWindow'] as const) {
    if (!(config[key] > 0)) fail(`${key} must be > 0, got ${config[key]}`);
  }
  // 0 is what the config accepts (`stop_timeout: 0s`, as a pod's terminationGracePeriodSeconds: 0):
  // SIGKILL right after SIGTERM. Refused here, such a config passed validation and then failed
  // `scaleplane up` with "stopTimeout must be > 0", naming no key of the file.
  if (!(config.stopTimeout >= 0)) fail(`stopTimeout must be >= 0, got ${config.stopTimeout}`);
  if (config.minReady !== undefined && !(config.minReady >= 0 && Number.isFinite(config.minReady)))
    fail(`min_ready must be >= 0 ms, got ${config.minReady}`);
  if (!Number.isInteger(config.crashLoopLimit) || config.crashLoopLimit < 0) {
    fail(`crashLoopLimit must be an integer >= 0, got ${config.crashLoopLimit}`);
  }
  if (config.logLinesPerSecond !== undefined && !(config.logLinesPerSecond > 0))
    fail(`log_lines_per_second must be > 0, got ${config.logLinesPerSecond}`);
  const range = config.portRange;
  if (
    range !== undefined &&
    !(
      Number.isInteger(range.low) &&
      Number.isInteger(range.high) &&
      range.low >= 1 &&
      range.low <= range.high &&
      range.high <= 65535
    )
  )
    fail(`port_range must be ports 1-65535, the lower first, got ${JSON.stringify(range)}`);
  if (options.healthInterval !== undefined && !(options.healthInterval > 0))
    fail('healthInterval must be > 0');
  if (options.healthTimeout !== undefined && !(options.healthTimeout > 0)) fail('healthTimeout must be > 0');
  if (options.logSummaryInterval !== undefined && !(options.logSummaryInterval > 0))
    fail('logSummaryInterval must be > 0');
}

import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { BalancerConfig, HostPort, RouteConfig } from '../config/types.js';
import { addTotals, type MetricsSnapshot } from '../metrics/index.js';
import type { PurgeSelector, PurgeTarget } from './cache/index.js';
import { BalancerError } from './errors.js';
import type { BackendInstance, BalancerLogger, GroupStats } from './types.js';

/** ToWorker are the messages the controller process sends to data-path workers. */
export type ToWorker =
  | { t: 'set'; group: string; instances: readonly BackendInstance[]; healthPath: string | undefined }
  | { t: 'remove'; group: string }
  | { t: 'health'; group: string; id: string; healthy: boolean }
  | { t: 'drain'; group: string; id: string; seq: number }
  | { t: 'warming'; group: string; id: string; elapsed: number }
  | { t: 'purge'; selector: PurgeSelector; seq: number }
  | { t: 'invalidate'; cache: string; targets: readonly PurgeTarget[]; seq: number }
  /** Every other worker has dropped what the worker's `invalidate` numbered `seq` named. */
  | { t: 'invalidated'; seq: number }
  | { t: 'metrics'; seq: number }
  | { t: 'listen' }
  /** Re-read the `tls` files (a certificate renewed in place) and serve them to new connections. */
  | { t: 'tls' }
  | { t: 'close' };

/** FromWorker are the messages a data-path worker sends back. */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'listening'; address: HostPort }
  | { t: 'drained'; seq: number }
  | { t: 'purged'; seq: number; removed: number }
  | { t: 'invalidate'; cache: string; targets: readonly PurgeTarget[]; seq: number }
  /** This worker has dropped what the `invalidate` numbered `seq` named. */
  | { t: 'invalidated'; seq: number }
  | { t: 'stats'; groups: Record<string, GroupStats> }
  | { t: 'metrics'; seq: number; metrics: MetricsSnapshot }
  | { t: 'event'; name: 'ejection' | 'recovery'; payload: unknown }
  | { t: 'log'; level: 'info' | 'warn' | 'error'; fields: Record<string, unknown>; message: string }
  | { t: 'listenFailed'; message: string };

interface Scrape {
  readonly waiting: Set<Worker>;
  readonly snapshots: Map<Worker, MetricsSnapshot>;
  readonly resolve: (snapshots: MetricsSnapshot[]) => void;
  readonly timer: NodeJS.Timeout;
}

/** WorkerBoot is what a worker reads from `SCALEPLANE_BALANCER_WORKER` at start. */
export interface WorkerBoot {
  config: BalancerConfig;
  routes: readonly RouteConfig[];
  /** The controller process's request-duration bounds: a worker's counts are added bucket by bucket. */
  requestDurationBuckets: readonly number[];
}

/** WORKER_ENV names the environment variable that carries a worker's WorkerBoot as JSON. */
export const WORKER_ENV = 'SCALEPLANE_BALANCER_WORKER';

/** WorkerSetOptions configures a WorkerSet. */
export interface WorkerSetOptions {
  count: number;
  boot: WorkerBoot;
  logger: BalancerLogger;
  /** Replays membership, health, drains and slow starts to a fresh worker before it listens. */
  replay: () => ToWorker[];
  /** A worker's outlier event; `worker` tells the workers apart (node:cluster's id). */
  onEvent: (name: 'ejection' | 'recovery', payload: unknown, worker: number) => void;
  /** A worker exited (its replacement, if any, starts with none of its ejections). */
  onExit?: (worker: number) => void;
}

/**
 * WorkerSet runs the data path on `count` node:cluster workers sharing one listening port (Node 20
 * has no reusePort). The controller process keeps membership and active health and pushes every
 * change; workers proxy, detect outliers on their own traffic and report events and stats back. A
 * worker that dies is replaced with the current membership; the counters and histograms it last
 * reported stay in every later scrape, so sums over workers never go down.
 */
export class WorkerSet {
  readonly #options: WorkerSetOptions;
  readonly #workers = new Set<Worker>();
  /**
   * Workers that got the replay: only these are sent changes and counted in drains, purges and
   * scrapes. One still booting has no listener yet (what it is sent is lost, and it never answers);
   * its replay, read when it says `ready`, carries every change made until then.
   */
  readonly #replayed = new Set<Worker>();
  readonly #stats = new Map<Worker, Record<string, GroupStats>>();
  /** Drains under way, each with the workers that have not answered yet. */
  readonly #drains = new Map<number, { waiting: Set<Worker>; resolve: () => void }>();
  /** Purges under way, each with the workers that have not answered yet. */
  readonly #purges = new Map<
    number,
    { waiting: Set<Worker>; removed: number; resolve: (removed: number) => void }
  >();
  /**
   * Unsafe requests' invalidations under way: the worker that handled the request holds its answer
   * until the others (those that have not answered yet) have dropped the URLs.
   */
  readonly #invalidations = new Map<number, { origin: Worker; seq: number; waiting: Set<Worker> }>();
  readonly #scrapes = new Map<number, Scrape>();
  /** Each live worker's latest metrics snapshot (from the last scrape it answered). */
  readonly #lastMetrics = new Map<Worker, MetricsSnapshot>();
  /** Counters and histograms of workers that exited, as they last reported them. */
  #retired: MetricsSnapshot = [];
  #seq = 0;
  #closing = false;

  constructor(options: WorkerSetOptions) {
    this.#options = options;
  }

  /** start forks the workers and resolves with the address they share once all listen. */
  async start(): Promise<HostPort> {
    const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({
      exec: fileURLToPath(new URL(`./cluster-worker${ext}`, import.meta.url)),
      // Keep loaders such as `--import tsx`, drop the test runner's own flags.
      execArgv: process.execArgv.filter((arg) => !arg.startsWith('--test')),
    });
    const addresses = await Promise.all(Array.from({ length: this.#options.count }, () => this.#fork()));
    return addresses[0]!;
  }

  #fork(): Promise<HostPort> {
    const worker = cluster.fork({ [WORKER_ENV]: JSON.stringify(this.#options.boot) });
    this.#workers.add(worker);
    return new Promise<HostPort>((resolve, reject) => {
      worker.on('message', (message: FromWorker) => {
        switch (message.t) {
          case 'ready':
            // Booting when close() began, it missed that message (it had no listener yet).
            if (this.#closing) {
              worker.send({ t: 'close' } satisfies ToWorker);
              break;
            }
            for (const m of this.#options.replay()) worker.send(m);
            this.#replayed.add(worker);
            worker.send({ t: 'listen' } satisfies ToWorker);
            break;
          case 'listening':
            resolve(message.address);
            break;
          case 'listenFailed':
            reject(new BalancerError('BALANCER_LISTEN_FAILED', message.message));
            break;
          case 'drained':
            this.#drained(message.seq, worker);
            break;
          case 'purged':
            this.#purged(message.seq, worker, message.removed);
            break;
          case 'invalidate':
            this.#invalidate(worker, message.cache, message.targets, message.seq);
            break;
          case 'invalidated':
            this.#invalidated(message.seq, worker);
            break;
          case 'stats':
            this.#stats.set(worker, message.groups);
            break;
          case 'metrics':
            this.#scraped(message.seq, worker, message.metrics);
            break;
          case 'event':
            this.#options.onEvent(message.name, message.payload, worker.id);
            break;
          case 'log':
            this.#options.logger[message.level]({ ...message.fields, worker: worker.id }, message.message);
            break;
        }
      });
      worker.once('exit', (code, signal) => {
        this.#workers.delete(worker);
        this.#replayed.delete(worker);
        this.#stats.delete(worker);
        // What it counted stays counted. Lost: what it served after the last scrape it answered.
        const last = this.#lastMetrics.get(worker);
        this.#lastMetrics.delete(worker);
        if (last !== undefined) this.#retired = addTotals(this.#retired, last);
        // A drain waiting on this worker has nothing left there to wait for (one it answered still
        // waits for the others).
        for (const seq of [...this.#drains.keys()]) this.#drained(seq, worker);
        for (const seq of [...this.#purges.keys()]) this.#purged(seq, worker, 0);
        for (const [seq, invalidation] of [...this.#invalidations]) {
          if (invalidation.origin === worker) this.#invalidations.delete(seq);
          else this.#invalidated(seq, worker);
        }
        for (const seq of [...this.#scrapes.keys()]) this.#scraped(seq, worker, undefined);
        reject(new BalancerError('BALANCER_LISTEN_FAILED', `worker exited (${signal ?? code})`));
        this.#options.onExit?.(worker.id);
        if (this.#closing) return;
        this.#options.logger.error({ worker: worker.id, code, signal }, 'balancer worker died; replacing it');
        this.#fork().catch(() => undefined);
      });
    });
  }

  /**
   * invalidate passes an unsafe request's invalidation from `origin` to the other workers (their
   * memory caches still hold the URLs) and answers `origin` once each has dropped them or died.
   */
  #invalidate(origin: Worker, cache: string, targets: readonly PurgeTarget[], originSeq: number): void {
    const others = this.#live().filter((w) => w !== origin);
    const seq = ++this.#seq;
    this.#invalidations.set(seq, { origin, seq: originSeq, waiting: new Set(others) });
    for (const other of others) other.send({ t: 'invalidate', cache, targets, seq } satisfies ToWorker);
    this.#invalidated(seq, undefined);
  }

  /** invalidated notes that `worker` (if any) dropped invalidation `seq`'s URLs; the last one answers its origin. */
  #invalidated(seq: number, worker: Worker | undefined): void {
    const invalidation = this.#invalidations.get(seq);
    if (invalidation === undefined) return;
    if (worker !== undefined) invalidation.waiting.delete(worker);
    if (invalidation.waiting.size > 0) return;
    this.#invalidations.delete(seq);
    if (invalidation.origin.isConnected())
      invalidation.origin.send({ t: 'invalidated', seq: invalidation.seq } satisfies ToWorker);
  }

  /** live lists the workers that got the replay and are still connected. */
  #live(): Worker[] {
    return [...this.#replayed].filter((w) => w.isConnected());
  }

  /** broadcast sends a message to every worker. */
  broadcast(message: ToWorker): void {
    for (const worker of this.#live()) worker.send(message);
  }

  /** drain asks every worker to drain an instance and resolves once all have. */
  drain(group: string, id: string): Promise<void> {
    const seq = ++this.#seq;
    const live = this.#live();
    if (live.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drains.set(seq, { waiting: new Set(live), resolve });
      for (const worker of live) worker.send({ t: 'drain', group, id, seq } satisfies ToWorker);
    });
  }

  /** purge asks every worker to purge its HTTP caches and resolves with the keys they removed. */
  purge(selector: PurgeSelector): Promise<number> {
    const seq = ++this.#seq;
    const live = this.#live();
    if (live.length === 0) return Promise.resolve(0);
    return new Promise((resolve) => {
      this.#purges.set(seq, { waiting: new Set(live), removed: 0, resolve });
      for (const worker of live) worker.send({ t: 'purge', selector, seq } satisfies ToWorker);
    });
  }

  #purged(seq: number, worker: Worker, removed: number): void {
    const purge = this.#purges.get(seq);
    if (purge === undefined || !purge.waiting.delete(worker)) return;
    purge.removed += removed;
    if (purge.waiting.size === 0) {
      this.#purges.delete(seq);
      purge.resolve(purge.removed);
    }
  }

  #drained(seq: number, worker: Worker): void {
    const drain = this.#drains.get(seq);
    if (drain === undefined || !drain.waiting.delete(worker)) return;
    if (drain.waiting.size === 0) {
      this.#drains.delete(seq);
      drain.resolve();
    }
  }

  /**
   * metrics asks every worker for its metric series and resolves with the answers that came within
   * `timeoutMs`, plus the last-reported counters and histograms of workers that exited. A worker
   * stuck does not fail the scrape: its last answer stands in for it (one just replaced, with none
   * yet, is left out). Left out, a paused worker's counts went missing from the sums for that scrape:
   * scaleplane_requests_total read 984, 594, 640, 1127, which Prometheus takes for a counter reset,
   * and sum(rate(scaleplane_requests_total[15s])) read 99 req/s for a steady 17.5.
   */
  metrics(timeoutMs = 2000): Promise<MetricsSnapshot[]> {
    const live = this.#live();
    if (live.length === 0) return Promise.resolve(this.#retired.length === 0 ? [] : [this.#retired]);
    const seq = ++this.#seq;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#finishScrape(seq), timeoutMs);
      timer.unref();
      this.#scrapes.set(seq, { waiting: new Set(live), snapshots: new Map(), resolve, timer });
      for (const worker of live) worker.send({ t: 'metrics', seq } satisfies ToWorker);
    });
  }

  #scraped(seq: number, worker: Worker, snapshot: MetricsSnapshot | undefined): void {
    // An answer that comes after its scrape finished is still the worker's latest (IPC keeps order).
    if (snapshot !== undefined && this.#workers.has(worker)) this.#lastMetrics.set(worker, snapshot);
    const scrape = this.#scrapes.get(seq);
    if (scrape === undefined || !scrape.waiting.delete(worker)) return;
    if (snapshot !== undefined) scrape.snapshots.set(worker, snapshot);
    if (scrape.waiting.size === 0) this.#finishScrape(seq);
  }

  #finishScrape(seq: number): void {
    const scrape = this.#scrapes.get(seq);
    if (scrape === undefined) return;
    this.#scrapes.delete(seq);
    clearTimeout(scrape.timer);
    // A worker that answered and died since is in the retired totals now: count it there, once.
    const live = [...scrape.snapshots].filter(([worker]) => this.#workers.has(worker)).map(([, s]) => s);
    // One that did not answer counts as it last did, so that no sum over the workers goes down.
    for (const worker of scrape.waiting) {
      const last = this.#workers.has(worker) ? this.#lastMetrics.get(worker) : undefined;
      if (last !== undefined) live.push(last);
    }
    scrape.resolve(this.#retired.length === 0 ? live : [...live, this.#retired]);
  }

  /** stats sums the workers' last reports of a group, or undefined when none reported it. */
  stats(group: string): GroupStats | undefined {
    let sum: GroupStats | undefined;
    for (const groups of this.#stats.values()) {
      const s = groups[group];
      if (s === undefined) continue;
      if (sum === undefined) {
        sum = { ...s, backends: s.backends.map((b) => ({ ...b })) };
        continue;
      }
      sum.inFlight += s.inFlight;
      sum.requests += s.requests;
      sum.panic ||= s.panic;
      for (const b of s.backends) {
        const mine = sum.backends.find((x) => x.id === b.id);
        if (mine === undefined) sum.backends.push({ ...b });
        else {
          mine.inFlight += b.inFlight;
          mine.ejected ||= b.ejected;
        }
      }
    }
    return sum;
  }

  /** close asks each worker to drain and exit, and kills those still up after `deadline` ms. */
  async close(deadline: number): Promise<void> {
    this.#closing = true;
    const exits = [...this.#workers].map((worker) => {
      const exited = new Promise<void>((resolve) => {
        if (worker.isDead()) resolve();
        else worker.once('exit', () => resolve());
      });
      if (worker.isConnected()) worker.send({ t: 'close' } satisfies ToWorker);
      const timer = setTimeout(() => worker.process.kill('SIGKILL'), deadline + 1000);
      timer.unref();
      return exited.then(() => clearTimeout(timer));
    });
    await Promise.all(exits);
    for (const drain of this.#drains.values()) drain.resolve();
    this.#drains.clear();
    for (const purge of this.#purges.values()) purge.resolve(purge.removed);
    this.#purges.clear();
    for (const seq of [...this.#scrapes.keys()]) this.#finishScrape(seq);
  }
}

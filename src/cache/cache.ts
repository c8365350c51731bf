/**
 * The cache-aside orchestrator: memory tier → Redis tier → (lock) → loader, with single-flight per
 * key, stale serving and cross-instance invalidation. Lifetime decisions come from entry.ts and the
 * breaker; this file only sequences I/O around them.
 */

import { createHash, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { type BusMessage, InvalidationBus } from './bus.js';
import type { Clock, Random } from './clock.js';
import {
  buildEntry,
  type CacheEntry,
  classifyEntry,
  type EntryPolicy,
  isServable,
  remainingMs,
} from './entry.js';
import { decodeEntry, encodeEntry, encodeTombstone, freshPayloadAt, isTombstone } from './envelope.js';
import { CacheError, CacheOptionError } from './errors.js';
import { LoaderBackoff } from './loader-backoff.js';
import { MemoryStore } from './memory-store.js';
import {
  bindCacheMetrics,
  type CacheCounts,
  type CacheMetrics,
  cacheMetrics,
  type ErrorTier,
  type MetricsBinding,
} from './metrics.js';
import {
  type CacheOptions,
  type CallOptions,
  checkCallOptions,
  checkKey,
  checkLoader,
  checkTags,
  type Duration,
  positiveMs,
  type ResolvedLock,
  type ResolvedOptions,
  resolveEntryPolicy,
  resolveOptions,
  toMs,
} from './options.js';
import { RedisTier, type TagDeletion } from './redis-tier.js';
import { argumentsText, type Serializer } from './serializer.js';

/** LoaderContext is what a loader gets besides the key. */
export interface LoaderContext<T> {
  /** The key as the caller passed it (without prefix). */
  readonly key: string;
  /** The previous value when one is at hand (being refreshed, or in its grace period). */
  readonly stale: T | undefined;
  /** Store this result with another TTL (e.g. from an upstream `max-age`). */
  setTtl(ttl: Duration): void;
  /** Store this result with other tags. */
  setTags(tags: readonly string[]): void;
  /**
   * Aborts when the cache abandons this load (`hardTimeout`): pass it on to the query or request, so
   * that an abandoned load stops instead of holding a connection. Never aborts without `hardTimeout`.
   */
  readonly signal: AbortSignal;
}

/** Loader produces the value on a miss: typically a database query. */
export type Loader<T> = (context: LoaderContext<T>) => T | Promise<T>;

/** InvalidationEvent reports keys/tags evicted from this process's memory tier. */
export interface InvalidationEvent {
  keys: readonly string[];
  tags: readonly string[];
  source: 'local' | 'remote';
  /** Clock time the eviction was applied. */
  at: number;
}

/** CacheEvents are the events a Cache emits. 'error' carries absorbed failures; nothing is thrown. */
export interface CacheEvents {
  error: [CacheError];
  'redis:up': [];
  'redis:down': [];
  /**
   * The invalidation channel is subscribed: the first time, or again after its connection dropped
   * (the memory tier was emptied just before, as notices sent meanwhile were lost). Its connection is
   * not the commands' one and comes back on its own time, after a failover too: 'redis:up' says
   * nothing about it.
   */
  'bus:up': [];
  /** The invalidation channel's connection dropped: other instances' notices are lost until 'bus:up'. */
  'bus:down': [];
  invalidate: [InvalidationEvent];
}

/** WrapOptions are CallOptions plus how to turn arguments into a key. */
export interface WrapOptions<A extends unknown[]> extends CallOptions {
  /**
   * @defaultValue `${fn.name}:` and the arguments as jsonSerializer writes them: plain JSON for
   * JSON values, tagged for Date, Map, Set, BigInt, undefined, NaN, Buffer… so they do not collide.
   */
  key?: (...args: A) => string;
}

/** CacheApi is what both a Cache and its namespaces offer. */
export interface CacheApi {
  getOrSet<T>(key: string, loader: Loader<T>, options?: CallOptions): Promise<T>;
  get<T>(key: string): Promise<T | undefined>;
  set<T>(key: string, value: T, options?: CallOptions): Promise<void>;
  delete(key: string): Promise<void>;
  deleteByTag(tags: string | readonly string[]): Promise<void>;
  wrap<A extends unknown[], T>(
    fn: (...args: A) => T | Promise<T>,
    options?: WrapOptions<A>,
  ): (...args: A) => Promise<T>;
  namespace(name: string): CacheApi;
}

interface ResolvedCall {
  policy: EntryPolicy;
  /** ms a failed loader is left alone while a stale value stands in (LoaderBackoff). */
  staleIfErrorBackoff: number;
  tags: readonly string[];
  lock: boolean;
  timeout: number | undefined;
  hardTimeout: number | undefined;
}

/** Flight is one read-or-load of a key in progress; concurrent callers share its promise. */
interface Flight {
  promise: Promise<unknown> | undefined;
  readonly fullKey: string;
  /**
   * The key was set or deleted (here or, by the bus, elsewhere) while the flight ran, or the bus
   * resubscribed meanwhile (notices lost): what it read or loaded may be from before that, so its
   * callers get it but neither tier stores it.
   */
  invalidated: boolean;
  /** Tags deleted while the flight ran: an entry carrying one of them is not stored either. */
  droppedTags: string[] | undefined;
  /**
   * The tags its value is to carry as far as known: the call's, then the loader's setTags. A
   * deleteByTag naming one takes the flight out of single-flight (#retire).
   */
  tags: readonly string[];
  /** A load that outlived its callers' timeout still stores: the flight stays watched until then. */
  outlived: boolean;
  /**
   * The key's bytes in Redis when this flight last read them (null: no key; undefined: not read,
   * Redis did not answer). Its load is stored only if Redis still holds them: a set or delete by
   * another instance lands in Redis before its notice reaches this one, and a load ending in
   * between overwrote the newer value in Redis (and kept the older one in memory).
   */
  seen: Buffer | null | undefined;
  /**
   * Set when the load outlived a caller's `timeout` and that caller got `fallback`: the load goes on
   * (`run`) and stays this key's one flight. Later callers with a `timeout` get `fallback` at once while
   * it lasts, instead of each starting a load of their own (the flight used to leave the map at the
   * timeout: with a database taking 1 s and a 20 ms timeout, 10 calls made 10 loads).
   */
  late: { fallback: CacheEntry; run: Promise<CacheEntry> } | undefined;
  /** A refresh behind a stale or early-refresh hit: callers are served the value they hit, never made to wait for it. */
  readonly background: boolean;
}

/** Missed marks a flight started by a read that has just missed in Redis: it need not read again. */
const MISSED = Symbol('missed');
type Missed = typeof MISSED;

interface Remote {
  entry: CacheEntry;
  bytes: number;
}

type LockOutcome =
  | { kind: 'locked'; token: string }
  | { kind: 'filled'; remote: Remote }
  | { kind: 'busy' | 'timeout' }
  // The lock request got no answer in time; `late` (see RedisTier.tryLock) when it was sent.
  | { kind: 'unavailable'; late: Promise<boolean> | undefined; token: string };

const TIMED_OUT = Symbol('timed out');
/** The signal of loads that are never abandoned (no hardTimeout). */
const NEVER_ABORTED = new AbortController().signal;
/** What #deserialize returns for a payload the serializer cannot read (undefined is a value). */
const UNREADABLE = Symbol('unreadable');
const CLOSE_WAIT_MS = 2000;
/** Invalidations remembered for reads in progress; a read that missed more keeps nothing in memory. */
const RECENT_INVALIDATIONS = 64;

interface Invalidation {
  keys: readonly string[];
  tags: readonly string[];
}

/** EVERYTHING stands in #recent for notices lost while the subscriber was away: any key, any tag. */
const EVERYTHING: Invalidation = { keys: [], tags: [] };

/**
 * seenMark is how SET_IF_UNCHANGED is told what a load saw: '' for no key, a tombstone as it is (a
 * few dozen ASCII bytes, compared in Redis without hashing), an entry by the SHA-1 of its bytes.
 */
function seenMark(seen: Buffer | null): string {
  if (seen === null) return '';
  return isTombstone(seen) ? seen.toString('latin1') : createHash('sha1').update(seen).digest('hex');
}

/**
 * untilAborted settles as `promise` does, or rejects with the signal's reason when it aborts first.
 * Only this caller stops waiting: the shared load behind `promise` is not touched.
 */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** reason is an error's message, for a CacheError that wraps it. */
function reason(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function transientEntry<T>(value: T, tags: readonly string[], now: number): CacheEntry<T> {
  return {
    value,
    createdAt: now,
    refreshAt: now,
    freshUntil: now,
    staleUntil: now,
    graceUntil: now,
    tags,
    negative: true,
  };
}

/**
 * Cache is a two-tier cache-aside cache. Create it with `createCache`; call `close()` when done.
 * Values handed out from the memory tier are shared between callers: do not mutate them.
 */
export class Cache extends EventEmitter<CacheEvents> implements CacheApi {
  readonly #options: ResolvedOptions;
  readonly #prefix: string;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #serializer: Serializer;
  readonly #memory: MemoryStore | undefined;
  readonly #redis: RedisTier | undefined;
  readonly #bus: InvalidationBus | undefined;
  readonly #lock: ResolvedLock | undefined;
  readonly #channel: string;
  readonly #defaultCall: ResolvedCall;
  readonly #metrics: CacheMetrics;
  readonly #binding: MetricsBinding;
  readonly #m: CacheCounts;
  readonly #flights = new Map<string, Flight>();
  /** Flights that may still store, including loads that outlived a timeout (#flights has those no more). */
  readonly #unsettled = new Set<Flight>();
  /**
   * Counts sets/deletes (here and from the bus) and resubscriptions of the bus. A read outside a
   * flight compares it before and after its GET: a reply can be handled after the notice of a delete
   * that followed it in Redis (they come on two connections), and kept in memory then it outlived
   * the delete on this instance; or after a resubscription emptied the memory tier.
   */
  #invalidations = 0;
  /** The last RECENT_INVALIDATIONS of them, newest last: a read that saw the count move checks these. */
  readonly #recent: Invalidation[] = [];
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Keys whose loader failed lately while a stale value stood in: left alone for a while. */
  readonly #backoff = new LoaderBackoff();
  readonly #background = new Set<Promise<unknown>>();
  /** Names this instance in its tombstones; with #tombstones (a count) it makes each one unique. */
  readonly #instance = randomUUID();
  #tombstones = 0;
  #busUp = false;
  #closing: Promise<void> | undefined;

  constructor(options: CacheOptions = {}) {
    super();
    const o = resolveOptions(options);
    this.#options = o;
    this.#prefix = o.prefix;
    this.#clock = o.clock;
    this.#random = o.random;
    this.#serializer = o.serializer;
    this.#lock = o.lock;
    this.#channel = `${o.prefix}__bus`;
    this.#defaultCall = {
      policy: o.entry,
      staleIfErrorBackoff: o.staleIfErrorBackoff,
      tags: [],
      lock: o.lock !== undefined,
      timeout: undefined,
      hardTimeout: o.hardTimeout,
    };
    this.#metrics = cacheMetrics(o.registry);
    const memory = o.memory && new MemoryStore(o.memory);
    this.#memory = memory;
    this.#binding = bindCacheMetrics(o.registry, this.#metrics, o.name, () =>
      memory ? { entries: memory.size, bytes: memory.bytes } : undefined,
    );
    this.#m = this.#binding.counts;
    this.#binding.setRedisUp(false);
    this.#redis =
      o.redis &&
      new RedisTier(o.redis, {
        random: o.random,
        hooks: {
          up: () => {
            this.#binding.setRedisUp(true);
            this.emit('redis:up');
          },
          down: () => {
            this.#binding.setRedisUp(false);
            this.emit('redis:down');
          },
          error: (error) => this.#report('redis', error),
          dropped: () => {
            this.#m.offlineDropped++;
          },
        },
      });
    this.#bus =
      this.#redis && o.invalidation
        ? new InvalidationBus(this.#redis.client, this.#channel, this.#instance, o.redis!.busHeartbeat, {
            message: (message) => this.#onBusMessage(message),
            subscribed: () => this.#setBusUp(true),
            lost: () => this.#setBusUp(false),
            resubscribed: () => {
              this.#missedNotices();
              this.#setBusUp(true);
            },
            error: (error) => this.#report('bus', error),
          })
        : undefined;
  }

  /** metrics are the cache's Prometheus series (on the registry given to createCache). */
  get metrics(): CacheMetrics {
    return this.#metrics;
  }

  /** redisUp is true while the Redis tier takes commands. */
  get redisUp(): boolean {
    return this.#redis?.up ?? false;
  }

  /** busUp is true while the invalidation channel is subscribed (other instances' notices reach this one). */
  get busUp(): boolean {
    return this.#busUp;
  }

  /** memoryHas says whether the memory tier holds `key` (for tests and diagnostics). */
  memoryHas(key: string): boolean {
    return this.#memory?.has(this.#fullKey(key)) ?? false;
  }

  /** loading says whether a load or refresh of `key` is under way in this process (for tests and diagnostics). */
  loading(key: string): boolean {
    return this.#flights.has(this.#fullKey(key));
  }

  /**
   * ready resolves true once Redis answers and the invalidation channel is subscribed, or false after
   * `timeoutMs` — the cache works either way, this only lets callers start warm.
   */
  async ready(timeoutMs = 5000): Promise<boolean> {
    if (!this.#redis) return true;
    const redis = this.#redis;
    const bus = this.#bus;
    if (redis.up && (bus === undefined || this.#busUp)) return true;
    // One deadline for both: the subscriber retries its SUBSCRIBE until Redis answers, so with Redis
    // down at start-up a wait for it alone never ended (ready(200) still pending after 3 s).
    let timer: NodeJS.Timeout | undefined;
    let done: (() => void) | undefined;
    const arrived = new Promise<void>((resolve) => {
      done = resolve;
    });
    const check = () => {
      if (redis.up && (bus === undefined || this.#busUp)) done!();
    };
    this.on('redis:up', check);
    this.on('bus:up', check);
    try {
      return await Promise.race([
        arrived.then(() => true),
        new Promise<false>((resolve) => {
          timer = setTimeout(() => resolve(false), timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      this.off('redis:up', check);
      this.off('bus:up', check);
    }
  }

  /** getOrSet returns the cached value for `key`, or runs `loader` (once per key in this process) and caches it. */
  getOrSet<T>(key: string, loader: Loader<T>, options?: CallOptions): Promise<T> {
    const signal = options?.signal;
    // Not an AbortSignal: #getOrSet rejects it, naming the option.
    if (signal === undefined || !(signal instanceof AbortSignal)) return this.#getOrSet(key, loader, options);
    if (signal.aborted) return Promise.reject(signal.reason);
    return untilAborted(this.#getOrSet(key, loader, options), signal);
  }

  #getOrSet<T>(key: string, loader: Loader<T>, options?: CallOptions): Promise<T> {
    // Not async: a hit should cost no more promises than the read itself. Failures still reject.
    try {
      this.#assertOpen();
      checkLoader(loader);
      const call = options === undefined ? this.#defaultCall : this.#resolveCall(options);
      const fullKey = this.#fullKey(key);
      let fallback: CacheEntry | undefined;
      if (this.#memory) {
        const now = this.#clock.now();
        const entry = this.#memory.get(fullKey, now);
        const state = classifyEntry(entry, now);
        if (state === 'fresh') {
          this.#m.memoryHit++;
          return Promise.resolve(entry!.value as T);
        }
        if (state === 'refresh' || state === 'stale') {
          this.#m.memoryHit++;
          if (state === 'stale') this.#m.staleRevalidate++;
          this.#refresh(key, fullKey, loader as Loader<unknown>, call, entry!);
          return Promise.resolve(entry!.value as T);
        }
        this.#m.memoryMiss++;
        if (state === 'grace') fallback = entry;
      }
      // The size test spares a hit hashing the key when nothing is in flight (the usual case).
      const flight = this.#flights.size === 0 ? undefined : this.#flights.get(fullKey);
      if (flight !== undefined) return this.#join(flight, call) as Promise<T>;
      // A hit needs no coalescing: read first, and enter single-flight only on a miss (#readThrough).
      if (this.#redis)
        return this.#readThrough(key, fullKey, loader as Loader<unknown>, call, fallback) as Promise<T>;
      return this.#fly(
        key,
        fullKey,
        loader as Loader<unknown>,
        call,
        fallback,
        false,
        undefined,
      ) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** get returns the value within its TTL or stale window from either tier, or undefined. Never loads. */
  async get<T>(key: string): Promise<T | undefined> {
    this.#assertOpen();
    const fullKey = this.#fullKey(key);
    if (this.#memory) {
      const now = this.#clock.now();
      const entry = this.#memory.get(fullKey, now);
      if (isServable(classifyEntry(entry, now))) {
        this.#m.memoryHit++;
        return entry!.value as T;
      }
      this.#m.memoryMiss++;
    }
    if (!this.#redis) return undefined;
    const invalidations = this.#invalidations;
    const data = await this.#redis.get(fullKey);
    if (data === undefined) {
      // Redis did not answer: an outage, not a miss (counted as one, it read as a hit-rate collapse).
      this.#m.redisUnavailable++;
      return undefined;
    }
    const remote = data === null ? undefined : this.#decodeRemote(fullKey, data);
    if (remote && isServable(classifyEntry(remote.entry, this.#clock.now()))) {
      this.#m.redisHit++;
      if (!this.#invalidatedSince(invalidations, fullKey, remote.entry.tags))
        this.#remember(fullKey, remote.entry, remote.bytes);
      return remote.entry.value as T;
    }
    this.#m.redisMiss++;
    return undefined;
  }

  /**
   * set stores `value` in both tiers and evicts `key` from the other instances' memory tiers. While
   * Redis is away the write waits in the offline queue. Throws CacheError CACHE_SERIALIZE when the
   * serializer cannot represent the value.
   */
  async set<T>(key: string, value: T, options?: CallOptions): Promise<void> {
    this.#assertOpen();
    const call = options === undefined ? this.#defaultCall : this.#resolveCall(options);
    const fullKey = this.#fullKey(key);
    // A load of the key under way here read the value from before this one: it must not store it.
    this.#overtake([fullKey], []);
    this.#backoff.clear(fullKey);
    const entry = buildEntry(value, call.tags, call.policy, this.#clock.now(), this.#random);
    if (entry === undefined) return this.delete(key);
    let payload: string;
    try {
      payload = this.#serializer.serialize(value);
    } catch (error) {
      throw new CacheError('CACHE_SERIALIZE', `cannot serialize the value of "${key}": ${reason(error)}`, {
        cause: error,
      });
    }
    this.#remember(fullKey, entry, payload.length);
    const redis = this.#redis;
    if (!redis) return;
    const text = encodeEntry(entry, payload);
    const tagKeys = call.tags.map((tag) => this.#tagKey(tag));
    await redis.write(
      'set',
      (client) => {
        const now = this.#clock.now();
        const ttl = entry.graceUntil - now;
        // Stored only over what is older: another instance may have set or deleted the key after this
        // write was made (a replay from the offline queue, or a first attempt that timed out and lands
        // late). This instance's memory then drops it (kept, it served the older value here until its
        // TTL, had the other write's notice been lost).
        if (ttl > 0)
          return redis.setEntry(client, fullKey, entry.createdAt, text, ttl, tagKeys).then((stored) => {
            if (!stored && this.#memory?.peek(fullKey) === entry) this.#memory.delete(fullKey);
          });
        // Replayed after its TTL ran out: the value it replaced must go all the same (skipped, the
        // older value stayed in Redis for its own TTL), as a delete leaves it.
        const tombstone = encodeTombstone(this.#instance, ++this.#tombstones, now);
        return redis.setTombstone(client, fullKey, tombstone, this.#options.redis!.tombstoneTtl);
      },
      () => {
        // Refused (OOM under noeviction, a value over proto-max-bulk-len…): the value it replaces must
        // not stay, read back by every instance once the notice has evicted their copies. UNLINK, not
        // a tombstone: Redis out of memory still takes it.
        void redis.write('set', (client) => client.unlink(fullKey));
      },
    );
    await this.#publish({ k: [fullKey] });
  }

  /**
   * delete removes `key` from both tiers and from every instance's memory tier. In Redis it leaves a
   * tombstone for `redis.tombstoneTtl` (read as a miss), so that a load elsewhere that began before
   * this delete is not stored.
   */
  async delete(key: string): Promise<void> {
    this.#assertOpen();
    const fullKey = this.#fullKey(key);
    this.#overtake([fullKey], []);
    this.#backoff.clear(fullKey);
    this.#memory?.delete(fullKey);
    this.#m.invalidationsLocal++;
    this.emit('invalidate', { keys: [key], tags: [], source: 'local', at: this.#clock.now() });
    const redis = this.#redis;
    if (!redis) return;
    // A tombstone, not UNLINK: a load elsewhere that began before this delete and saw no key (or an
    // older tombstone) would find "nothing before, nothing now" and store what it read from before.
    const tombstone = encodeTombstone(this.#instance, ++this.#tombstones, this.#clock.now());
    const ttl = this.#options.redis!.tombstoneTtl;
    await redis.write('delete', (client) => redis.setTombstone(client, fullKey, tombstone, ttl));
    await this.#publish({ k: [fullKey] });
  }

  /**
   * deleteByTag removes every entry carrying one of `tags`, in both tiers and every instance's memory.
   * In Redis each key a tag's index lists is replaced by a tombstone, as `delete` leaves.
   */
  async deleteByTag(tags: string | readonly string[]): Promise<void> {
    this.#assertOpen();
    // Refused, naming the argument: a number failed as `tags is not iterable`, and [5] went through.
    if (typeof tags !== 'string') checkTags(tags, 'tags');
    const list = typeof tags === 'string' ? [tags] : [...tags];
    this.#overtake([], list);
    for (const tag of list) this.#memory?.deleteByTag(tag);
    this.#m.invalidationsLocal++;
    this.emit('invalidate', { keys: [], tags: list, source: 'local', at: this.#clock.now() });
    const redis = this.#redis;
    if (!redis) return;
    // Redis first, then the notice: an instance evicting early could otherwise re-read the old value.
    // Each key the tags list gets a tombstone of its own, as from `delete`.
    const at = this.#clock.now();
    const tombstone = () => encodeTombstone(this.#instance, ++this.#tombstones, at);
    const ttl = this.#options.redis!.tombstoneTtl;
    // Per tag, how far an attempt came: a replay after a failure goes on from there, and tombstones
    // the members it read even if their SREM landed (the index no longer lists them).
    const progress: TagDeletion[] = list.map(() => ({ cursor: '0', scanned: false, carried: new Set() }));
    await redis.writeInSteps('deleteByTag', async (client, _replayed, step) => {
      for (const [i, tag] of list.entries())
        await redis.deleteTagged(client, this.#tagKey(tag), tombstone, ttl, progress[i]!, step);
    });
    await this.#publish({ t: list });
  }

  /** wrap returns `fn` memoized through getOrSet, keyed by its arguments. */
  wrap<A extends unknown[], T>(
    fn: (...args: A) => T | Promise<T>,
    options: WrapOptions<A> = {},
  ): (...args: A) => Promise<T> {
    return wrapWith(this, fn, options);
  }

  /** namespace returns a view whose keys and tags are prefixed with `name:`; it shares tiers and lifecycle. */
  namespace(name: string): CacheApi {
    return new CacheNamespace(this, `${name}:`);
  }

  /** close stops background work and releases connections (never an injected client). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    for (const waiters of this.#waiters.values()) for (const wake of [...waiters]) wake();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#background]),
      new Promise((resolve) => {
        timer = setTimeout(resolve, CLOSE_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
    await this.#bus?.close();
    this.#busUp = false;
    await this.#redis?.close();
    this.#memory?.clear();
    this.#binding.setRedisUp(false);
    this.#binding.detach();
  }

  #assertOpen(): void {
    if (this.#closing) throw new CacheError('CACHE_CLOSED', 'the cache is closed');
  }

  #resolveCall(options: CallOptions): ResolvedCall {
    checkCallOptions(options);
    return {
      policy: resolveEntryPolicy(options, this.#options.entry),
      staleIfErrorBackoff:
        options.staleIfErrorBackoff === undefined
          ? this.#options.staleIfErrorBackoff
          : toMs(options.staleIfErrorBackoff, 'staleIfErrorBackoff'),
      tags: options.tags ?? [],
      lock: (options.lock ?? this.#lock !== undefined) && this.#lock !== undefined,
      timeout: options.timeout === undefined ? undefined : toMs(options.timeout, 'timeout'),
      hardTimeout:
        options.hardTimeout === undefined
          ? this.#options.hardTimeout
          : positiveMs(options.hardTimeout, 'hardTimeout'),
    };
  }

  /**
   * fullKey is where `key` lives in Redis and memory. The cache's own keys sit under the prefix too
   * (`__tag:`, `__lock:`, `__bus`), so a key starting with `__` goes under `__k:`: stored as it was,
   * `set('__tag:users')` overwrote the index of tag 'users' (its deleteByTag then missed every key)
   * and a value named `__lock:k` was taken for the lock of 'k'.
   */
  #fullKey(key: string): string {
    checkKey(key);
    return key.startsWith('__') ? `${this.#prefix}__k:${key}` : this.#prefix + key;
  }

  /** keyOf is the key a full key stands for (fullKey's inverse). */
  #keyOf(fullKey: string): string {
    const key = fullKey.slice(this.#prefix.length);
    return key.startsWith('__k:') ? key.slice(4) : key;
  }

  #tagKey(tag: string): string {
    return `${this.#prefix}__tag:${tag}`;
  }

  #fly(
    key: string,
    fullKey: string,
    loader: Loader<unknown>,
    call: ResolvedCall,
    fallback: CacheEntry | undefined,
    background: boolean,
    missed: Missed | undefined,
    seen?: Buffer | null,
  ): Promise<unknown> {
    const flight: Flight = {
      promise: undefined,
      fullKey,
      invalidated: false,
      droppedTags: undefined,
      outlived: false,
      seen,
      late: undefined,
      background,
      tags: call.tags,
    };
    this.#flights.set(fullKey, flight);
    this.#unsettled.add(flight);
    flight.promise = this.#load(key, fullKey, loader, call, fallback, background, flight, missed);
    return flight.promise;
  }

  /**
   * readThrough is a foreground read outside single-flight: a hit (most reads) costs the GET and its
   * decoding, no flight bookkeeping. A miss joins the key's flight, or starts one that skips the read
   * already done. Concurrent misses still coalesce: a flight that starts after a read was sent ends
   * only after its own write's reply, which on the key's connection follows that read's reply.
   * It awaits the client's promise itself (RedisTier.read) and, without a memory tier to keep an
   * entry in, answers a fresh hit from the bytes without building an entry (freshPayloadAt): the
   * header's decoding was the largest part of the cache's own cost on a hit.
   */
  async #readThrough(
    key: string,
    fullKey: string,
    loader: Loader<unknown>,
    call: ResolvedCall,
    fallbackIn: CacheEntry | undefined,
  ): Promise<unknown> {
    const redis = this.#redis!;
    const invalidations = this.#invalidations;
    const pending = redis.read(fullKey);
    let data: Buffer | null | undefined;
    if (pending !== undefined) {
      let answered = true;
      try {
        data = await pending;
      } catch (error) {
        answered = false;
        redis.readFailed(error);
      }
      if (answered) redis.readDone();
    }
    let fallback = fallbackIn;
    if (data) {
      // A caller whose read missed has started the key's load while this read was on its way, and
      // another instance stored its own load in between: served this hit, the callers of one process
      // got two values (the other instance's, and this one's load), where single-flight promises
      // one. This caller joins the load too. A background refresh is not joined: its callers are
      // served what they hit.
      const started = this.#flights.size === 0 ? undefined : this.#flights.get(fullKey);
      if (started !== undefined && !started.background) {
        this.#m.redisHit++;
        return this.#join(started, call);
      }
      const now = this.#clock.now();
      const at = this.#memory === undefined ? freshPayloadAt(data, now) : -1;
      if (at >= 0) {
        const value = this.#deserialize(fullKey, data.toString('utf8', at));
        if (value !== UNREADABLE) {
          this.#m.redisHit++;
          return value;
        }
      } else {
        const remote = this.#decodeRemote(fullKey, data);
        if (remote !== undefined) {
          const state = classifyEntry(remote.entry, now);
          if (isServable(state)) {
            this.#m.redisHit++;
            if (!this.#invalidatedSince(invalidations, fullKey, remote.entry.tags))
              this.#remember(fullKey, remote.entry, remote.bytes);
            if (state !== 'fresh') {
              if (state === 'stale') this.#m.staleRevalidate++;
              this.#refresh(key, fullKey, loader, call, remote.entry);
            }
            return remote.entry.value;
          }
          if (state !== 'expired' && remote.entry.createdAt > (fallback?.createdAt ?? -1))
            fallback = remote.entry;
        }
      }
    }
    if (data === undefined) this.#m.redisUnavailable++;
    else this.#m.redisMiss++;
    const flight = this.#flights.get(fullKey);
    if (flight !== undefined) return this.#join(flight, call);
    return this.#fly(key, fullKey, loader, call, fallback, false, MISSED, data);
  }

  #refresh(
    key: string,
    fullKey: string,
    loader: Loader<unknown>,
    call: ResolvedCall,
    current: CacheEntry,
  ): void {
    if (this.#flights.has(fullKey) || this.#closing) return;
    // The last refresh failed a moment ago: the stale value is served without asking the database again.
    if (this.#backoff.waiting(fullKey, this.#clock.now())) return;
    const task = this.#fly(key, fullKey, loader, call, current, true, undefined).then(
      () => undefined,
      (error: unknown) =>
        this.#report(
          'loader',
          new CacheError('CACHE_LOADER_FAILED', `background refresh of "${key}" failed`, { cause: error }),
        ),
    );
    this.#track(task);
  }

  #track(task: Promise<unknown>): void {
    this.#background.add(task);
    void task.then(() => this.#background.delete(task));
  }

  /** load reads Redis (unless the caller just missed there), answers a hit, or loads; the flight leaves the map when it ends. */
  async #load(
    key: string,
    fullKey: string,
    loader: Loader<unknown>,
    call: ResolvedCall,
    fallbackIn: CacheEntry | undefined,
    background: boolean,
    flight: Flight,
    missed: Missed | undefined,
  ): Promise<unknown> {
    try {
      let fallback = fallbackIn;
      const redis = this.#redis;
      if (redis && missed === undefined) {
        // The hot path: one await on the read, no closures, nothing allocated but the entry.
        const data = await redis.get(fullKey);
        flight.seen = data;
        const remote = data ? this.#decodeRemote(fullKey, data) : undefined;
        const state = classifyEntry(remote?.entry, this.#clock.now());
        const newer = remote !== undefined && remote.entry.createdAt > (fallback?.createdAt ?? -1);
        if (remote && isServable(state) && (!background || (state === 'fresh' && newer))) {
          this.#m.redisHit++;
          if (state === 'stale') this.#m.staleRevalidate++;
          if (!this.#overtaken(flight, remote.entry.tags))
            this.#remember(fullKey, remote.entry, remote.bytes);
          // After this flight has left the map, so that the refresh can start its own.
          if (state !== 'fresh' && !background)
            setImmediate(() => this.#refresh(key, fullKey, loader, call, remote.entry));
          return remote.entry.value;
        }
        if (data === undefined) this.#m.redisUnavailable++;
        else this.#m.redisMiss++;
        if (remote && state !== 'expired' && newer) fallback = remote.entry;
      }
      return (await this.#lockAndLoad(key, fullKey, loader, call, fallback, background, flight)).value;
    } finally {
      // A load that outlived its callers' timeout stays the key's flight until it ends (#callLoader).
      if (!flight.outlived) {
        if (this.#flights.get(fullKey) === flight) this.#flights.delete(fullKey);
        this.#unsettled.delete(flight);
      }
    }
  }

  async #lockAndLoad(
    key: string,
    fullKey: string,
    loader: Loader<unknown>,
    call: ResolvedCall,
    fallback: CacheEntry | undefined,
    background: boolean,
    flight: Flight,
  ): Promise<CacheEntry> {
    const now = this.#clock.now();
    if (fallback !== undefined && now < fallback.graceUntil && this.#backoff.waiting(fullKey, now)) {
      // The loader failed a moment ago: the stale value stands in again without calling it.
      if (!background) this.#m.staleError++;
      return fallback;
    }
    const redis = this.#redis;
    let token: string | undefined;
    let lateLock: { token: string; late: Promise<boolean> } | undefined;
    const lockKey = `${this.#prefix}__lock:${fullKey.slice(this.#prefix.length)}`;
    if (call.lock && redis) {
      const outcome = await this.#acquire(fullKey, lockKey, background, fallback, flight);
      if (outcome.kind === 'filled') {
        this.#m.redisHit++;
        if (!this.#overtaken(flight, outcome.remote.entry.tags))
          this.#remember(fullKey, outcome.remote.entry, outcome.remote.bytes);
        return outcome.remote.entry;
      }
      if (outcome.kind === 'busy' && fallback) return fallback;
      if (outcome.kind === 'timeout' && fallback && this.#clock.now() < fallback.graceUntil) {
        this.#m.staleLockTimeout++;
        return fallback;
      }
      if (outcome.kind === 'locked') token = outcome.token;
      if (outcome.kind === 'unavailable' && outcome.late)
        lateLock = { token: outcome.token, late: outcome.late };
    }
    try {
      return await this.#callLoader(
        key,
        fullKey,
        loader,
        call,
        fallback,
        background,
        token !== undefined,
        flight,
      );
    } finally {
      if (token !== undefined) {
        // Held until the load ends, also one that outlived the timeout: released at the timeout, the
        // next process took the lock and loaded too.
        const unlock = () => void redis?.unlock(lockKey, token);
        const late = flight.late?.run;
        if (late === undefined) unlock();
        else late.then(unlock, unlock);
      } else if (lateLock !== undefined && redis) {
        // A lock request that timed out may land later and take the lock for this load: released once
        // both have ended (the lock then stood for a load that was under way, as a lock should).
        const { token: lateToken, late: taken } = lateLock;
        const release = () =>
          void taken.then((held) => (held ? redis.releaseLate(lockKey, lateToken) : undefined));
        const run = flight.late?.run;
        if (run === undefined) release();
        else run.then(release, release);
      }
    }
  }

  async #acquire(
    fullKey: string,
    lockKey: string,
    background: boolean,
    current: CacheEntry | undefined,
    flight: Flight,
  ): Promise<LockOutcome> {
    const redis = this.#redis!;
    const lock = this.#lock!;
    const token = randomUUID();
    // On the monotonic clock, not the cache's (the wall clock of the entries): there, a step back of
    // the system clock during the wait held the call for as long as the step (or until the holder's
    // load ended), instead of lock.wait.
    const deadline = performance.now() + lock.wait;
    for (;;) {
      const { taken, late } = await redis.tryLock(lockKey, token, lock.ttl);
      if (taken === undefined) return { kind: 'unavailable', late, token };
      if (taken) {
        // The previous holder may have filled the key just before releasing the lock.
        const remote = await this.#readSeen(fullKey, flight);
        const newer = remote !== undefined && remote.entry.createdAt > (current?.createdAt ?? -1);
        if (remote && newer && classifyEntry(remote.entry, this.#clock.now()) === 'fresh') {
          void redis.unlock(lockKey, token);
          return { kind: 'filled', remote };
        }
        return { kind: 'locked', token };
      }
      if (background) return { kind: 'busy' };
      const left = deadline - performance.now();
      if (left <= 0 || this.#closing) return { kind: 'timeout' };
      await this.#waitForFill(fullKey, Math.min(lock.poll, left));
      const remote = await this.#readSeen(fullKey, flight);
      if (remote && isServable(classifyEntry(remote.entry, this.#clock.now())))
        return { kind: 'filled', remote };
    }
  }

  #waitForFill(fullKey: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      let waiters = this.#waiters.get(fullKey);
      if (waiters === undefined) {
        waiters = new Set();
        this.#waiters.set(fullKey, waiters);
      }
      const set = waiters;
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0 && this.#waiters.get(fullKey) === set) this.#waiters.delete(fullKey);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      set.add(wake);
    });
  }

  async #callLoader(
    key: string,
    fullKey: string,
    loader: Loader<unknown>,
    call: ResolvedCall,
    fallback: CacheEntry | undefined,
    background: boolean,
    locked: boolean,
    flight: Flight,
  ): Promise<CacheEntry> {
    let ttl: number | undefined;
    let tags: readonly string[] | undefined;
    const abort = call.hardTimeout === undefined ? undefined : new AbortController();
    let abandoned = false;
    const context: LoaderContext<unknown> = {
      key,
      stale: fallback?.value,
      setTtl: (value) => {
        ttl = toMs(value, 'setTtl');
      },
      setTags: (value) => {
        // A string ('users') was taken as its characters: the memory tier indexed the entry under
        // 'u', 's', …, so deleteByTag('users') left it, and the Redis tier failed the load with a
        // TypeError naming nothing.
        checkTags(value, 'setTags');
        tags = value;
        flight.tags = value;
      },
      signal: abort?.signal ?? NEVER_ABORTED,
    };
    const loaded = (async () => {
      let value: unknown;
      try {
        value = await loader(context);
      } catch (error) {
        if (!abandoned) this.#m.loaderError++;
        throw error;
      }
      if (!abandoned) {
        this.#m.loaderOk++;
        this.#backoff.clear(fullKey);
      }
      const policy = ttl === undefined ? call.policy : { ...call.policy, ttl };
      return this.#store(fullKey, value, policy, tags ?? call.tags, locked, flight);
    })();
    const run =
      abort === undefined
        ? loaded
        : this.#bounded(loaded, call.hardTimeout!, key, flight, () => {
            abandoned = true;
            this.#m.loaderTimeout++;
            abort.abort(new CacheError('CACHE_LOADER_TIMEOUT', `load of "${key}" abandoned`));
          });
    try {
      if (call.timeout === undefined || fallback === undefined || background) return await run;
      let timer: NodeJS.Timeout | undefined;
      const raced = await Promise.race([
        run,
        new Promise<typeof TIMED_OUT>((resolve) => {
          timer = setTimeout(() => resolve(TIMED_OUT), call.timeout);
        }),
      ]).finally(() => clearTimeout(timer));
      if (raced !== TIMED_OUT) return raced;
      this.#m.staleTimeout++;
      // The load goes on and its result is stored; only this answer does not wait for it. It stays
      // the key's flight until it ends: later callers get the fallback from it (#join).
      flight.outlived = true;
      flight.late = { fallback, run };
      this.#track(
        run
          .catch((error: unknown) => {
            this.#loadFailed(fullKey, fallback, call);
            this.#report(
              'loader',
              new CacheError('CACHE_LOADER_FAILED', `load of "${key}" failed`, { cause: error }),
            );
          })
          .finally(() => {
            if (this.#flights.get(fullKey) === flight) this.#flights.delete(fullKey);
            this.#unsettled.delete(flight);
          }),
      );
      return fallback;
    } catch (error) {
      this.#loadFailed(fullKey, fallback, call);
      if (!background && fallback && this.#clock.now() < fallback.graceUntil) {
        this.#m.staleError++;
        return fallback;
      }
      throw error;
    }
  }

  /** loadFailed starts the key's backoff when a stale value can stand in for the failed load. */
  #loadFailed(fullKey: string, fallback: CacheEntry | undefined, call: ResolvedCall): void {
    const now = this.#clock.now();
    if (fallback !== undefined && now < fallback.graceUntil)
      this.#backoff.failed(fullKey, now, call.staleIfErrorBackoff);
  }

  /**
   * bounded settles as `run` does, or rejects with CACHE_LOADER_TIMEOUT after `ms`: then the load is
   * abandoned (`abandon`), stores nothing when it ends, and leaves single-flight so that the next call
   * starts a load of its own instead of joining one that may never end.
   */
  #bounded(
    run: Promise<CacheEntry>,
    ms: number,
    key: string,
    flight: Flight,
    abandon: () => void,
  ): Promise<CacheEntry> {
    return new Promise<CacheEntry>((resolve, reject) => {
      const timer = setTimeout(() => {
        flight.invalidated = true;
        if (this.#flights.get(flight.fullKey) === flight) this.#flights.delete(flight.fullKey);
        this.#unsettled.delete(flight);
        abandon();
        reject(new CacheError('CACHE_LOADER_TIMEOUT', `load of "${key}" still running after ${ms} ms`));
      }, ms);
      run.then(
        (entry) => {
          clearTimeout(timer);
          resolve(entry);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  /**
   * join is how a call shares a key's flight. A load that has outlived a caller's `timeout` answers a
   * later call with a `timeout` with the same stale value at once, while that value lasts, rather than
   * making it wait out its own timeout (and before, start a load of its own).
   */
  #join(flight: Flight, call: ResolvedCall): Promise<unknown> {
    const late = flight.late;
    if (late === undefined) return flight.promise!;
    const { fallback, run } = late;
    if (call.timeout !== undefined && this.#clock.now() < fallback.graceUntil) {
      this.#m.staleTimeout++;
      return Promise.resolve(fallback.value);
    }
    // The flight's own promise has answered with the fallback already: wait for the load itself.
    return run.then(
      (entry) => entry.value,
      (error: unknown) => {
        if (this.#clock.now() >= fallback.graceUntil) throw error;
        this.#m.staleError++;
        return fallback.value;
      },
    );
  }

  async #store(
    fullKey: string,
    value: unknown,
    policy: EntryPolicy,
    tags: readonly string[],
    locked: boolean,
    flight: Flight,
  ): Promise<CacheEntry> {
    const now = this.#clock.now();
    const entry = buildEntry(value, tags, policy, now, this.#random);
    // Stored now, a value loaded before a set/delete of its key would overwrite the newer value in
    // Redis (or come back after the delete) in every instance for its whole TTL.
    if (entry !== undefined && this.#overtaken(flight, entry.tags)) return entry;
    if (entry === undefined) {
      // A load that found nothing must not leave an older value behind in this process.
      this.#memory?.delete(fullKey);
      await this.#forgetSeen(fullKey, flight, tags);
      return transientEntry(value, tags, now);
    }
    let payload: string;
    try {
      payload = this.#serializer.serialize(value);
    } catch (error) {
      this.#report(
        'serializer',
        new CacheError(
          'CACHE_SERIALIZE',
          `cannot serialize the value of "${this.#keyOf(fullKey)}" (not stored): ${reason(error)}`,
          { cause: error },
        ),
      );
      return entry;
    }
    const redis = this.#redis;
    if (!redis) {
      this.#remember(fullKey, entry, payload.length);
      return entry;
    }
    const text = encodeEntry(entry, payload);
    const tagKeys = tags.map((tag) => this.#tagKey(tag));
    const seen = flight.seen;
    // Loads are not queued while Redis is away: replayed later they could resurrect a value another
    // instance has deleted meanwhile.
    const written = await redis.exec('set', (client) =>
      seen === undefined
        ? redis.setEntry(client, fullKey, entry.createdAt, text, remainingMs(entry, now), tagKeys)
        : redis.setEntryIfUnchanged(client, fullKey, seenMark(seen), text, remainingMs(entry, now), tagKeys),
    );
    // Redis holds a newer value than this load (its notice may not be here yet): memory keeps
    // nothing either. Redis unreachable: memory is all there is, as before.
    const newer = written.ok && !written.value;
    if (!newer && !this.#overtaken(flight, entry.tags)) this.#remember(fullKey, entry, payload.length);
    // Stored or not, the key holds a value now: instances waiting on the lock read it.
    if (locked && this.#bus) {
      const notice = this.#bus.encode({ f: fullKey });
      await redis.exec('publish', (client) => client.publish(this.#channel, notice));
    }
    return entry;
  }

  /**
   * forgetSeen replaces the value a load that found nothing (not cached: negative caching off) saw
   * in Redis with a tombstone, as `delete` does, while the key still holds it, and tells the other
   * instances. Before, only this process's memory lost it: a stale value whose refresh found the
   * row gone stayed in Redis, and every read for the rest of its stale-while-revalidate window
   * served the deleted value again and started one more refresh, a loader call per read.
   */
  async #forgetSeen(fullKey: string, flight: Flight, tags: readonly string[]): Promise<void> {
    const redis = this.#redis;
    const seen = flight.seen;
    if (!redis || !seen || isTombstone(seen) || this.#overtaken(flight, tags)) return;
    const tombstone = encodeTombstone(this.#instance, ++this.#tombstones, this.#clock.now());
    const ttl = this.#options.redis!.tombstoneTtl;
    const replaced = await redis.exec('delete', (client) =>
      redis.setEntryIfUnchanged(client, fullKey, seenMark(seen), tombstone, ttl, []),
    );
    if (replaced.ok && replaced.value) await this.#publish({ k: [fullKey] });
  }

  /** readSeen is readRemote that records the bytes read as what `flight` saw last. */
  async #readSeen(fullKey: string, flight: Flight): Promise<Remote | undefined> {
    const data = await this.#redis?.get(fullKey);
    flight.seen = data;
    return data ? this.#decodeRemote(fullKey, data) : undefined;
  }

  #decodeRemote(fullKey: string, data: Buffer): Remote | undefined {
    const decoded = decodeEntry(data);
    if (decoded === undefined) {
      if (isTombstone(data)) return undefined;
      this.#report('serializer', new CacheError('CACHE_DESERIALIZE', `unreadable entry at "${fullKey}"`));
      return undefined;
    }
    const bytes = decoded.value.length;
    const value = this.#deserialize(fullKey, decoded.value);
    if (value === UNREADABLE) return undefined;
    const entry = decoded as CacheEntry;
    entry.value = value;
    return { entry, bytes };
  }

  /** deserialize reads a stored payload; UNREADABLE (reported) when the serializer cannot. */
  #deserialize(fullKey: string, payload: string): unknown {
    try {
      return this.#serializer.deserialize(payload);
    } catch (error) {
      this.#report(
        'serializer',
        new CacheError('CACHE_DESERIALIZE', `cannot deserialize "${fullKey}"`, { cause: error }),
      );
      return UNREADABLE;
    }
  }

  /**
   * overtake marks the flights of `fullKeys`, and those whose entry may carry one of `tags`, as
   * overtaken by a set or delete: they must not store what they got before it.
   */
  #overtake(fullKeys: readonly string[], tags: readonly string[]): void {
    this.#invalidated({ keys: fullKeys, tags });
    if (this.#unsettled.size === 0) return;
    for (const flight of this.#unsettled) {
      if (fullKeys.includes(flight.fullKey)) this.#retire(flight);
      if (tags.length > 0) {
        flight.droppedTags = [...(flight.droppedTags ?? []), ...tags];
        if (flight.tags.some((tag) => tags.includes(tag))) this.#retire(flight);
      }
      this.#retireLate(flight);
    }
  }

  /**
   * retire marks a flight overtaken by a set or delete of its key, a deleteByTag of a tag it is
   * known to carry (or lost notices) and takes it out of single-flight: it still answers the calls that joined it before, but a call made after
   * the set or delete starts a load of its own. Before, such a call joined the load from before the
   * delete and got its value, as long as that load ran (A.getOrSet after B.delete returned 'v1'),
   * where Caffeine's invalidate drops the load under way from the map.
   */
  #retire(flight: Flight): void {
    flight.invalidated = true;
    if (this.#flights.get(flight.fullKey) === flight) this.#flights.delete(flight.fullKey);
  }

  /**
   * retireLate takes a load that outlived its callers' timeout out of single-flight once its stale
   * value is invalidated: joined, it would answer the deleted value (#join) until its grace ended.
   * The load still ends; overtaken, it stores nothing.
   */
  #retireLate(flight: Flight): void {
    const late = flight.late;
    if (late === undefined || !this.#overtaken(flight, late.fallback.tags)) return;
    flight.late = undefined;
    if (this.#flights.get(flight.fullKey) === flight) this.#flights.delete(flight.fullKey);
  }

  #invalidated(invalidation: Invalidation): void {
    this.#invalidations++;
    this.#recent.push(invalidation);
    if (this.#recent.length > RECENT_INVALIDATIONS) this.#recent.shift();
  }

  /**
   * missedNotices runs when the subscriber is back after its connection dropped: the notices sent
   * meanwhile are lost and may have named any key. The memory tier is emptied, and every read or load
   * under way is treated as a notice would have treated it, had it named its key: a read keeps
   * nothing in memory, a load stores in neither tier (it may have read the database before a write
   * whose notice was lost, and in Redis its compare no longer sees a delete whose tombstone expired).
   */
  #missedNotices(): void {
    this.#memory?.clear();
    this.#invalidated(EVERYTHING);
    for (const flight of this.#unsettled) {
      this.#retire(flight);
      this.#retireLate(flight);
    }
  }

  /** invalidatedSince says whether `fullKey` or one of `tags` was invalidated since the count was `count`. */
  #invalidatedSince(count: number, fullKey: string, tags: readonly string[]): boolean {
    const moved = this.#invalidations - count;
    if (moved === 0) return false;
    const recent = this.#recent;
    if (moved > recent.length) return true;
    for (let i = recent.length - moved; i < recent.length; i++) {
      const invalidation = recent[i]!;
      if (invalidation === EVERYTHING) return true;
      const { keys, tags: dropped } = invalidation;
      if (keys.includes(fullKey) || dropped.some((tag) => tags.includes(tag))) return true;
    }
    return false;
  }

  /** overtaken says whether a flight's result with `tags` is older than a set/delete that happened meanwhile. */
  #overtaken(flight: Flight, tags: readonly string[]): boolean {
    if (flight.invalidated) return true;
    const dropped = flight.droppedTags;
    return dropped !== undefined && tags.some((tag) => dropped.includes(tag));
  }

  #remember(fullKey: string, entry: CacheEntry, bytes: number): void {
    if (!this.#memory) return;
    this.#memory.set(fullKey, entry, bytes);
  }

  async #publish(message: Omit<BusMessage, 'i'>): Promise<void> {
    const bus = this.#bus;
    const redis = this.#redis;
    if (!bus || !redis) return;
    const notice = bus.encode(message);
    await redis.write('publish', (client) => client.publish(this.#channel, notice));
  }

  #onBusMessage(message: BusMessage): void {
    if (message.f !== undefined) {
      const waiters = this.#waiters.get(message.f);
      if (waiters) for (const wake of [...waiters]) wake();
    }
    if (message.k === undefined && message.t === undefined) return;
    this.#overtake(message.k ?? [], message.t ?? []);
    const memory = this.#memory;
    for (const key of message.k ?? []) memory?.delete(key);
    for (const tag of message.t ?? []) memory?.deleteByTag(tag);
    this.#m.invalidationsRemote++;
    this.emit('invalidate', {
      keys: (message.k ?? []).map((key) => this.#keyOf(key)),
      tags: message.t ?? [],
      source: 'remote',
      at: this.#clock.now(),
    });
  }

  #setBusUp(up: boolean): void {
    if (this.#busUp === up) return;
    this.#busUp = up;
    // Called from the subscriber's events and promise callbacks: a throwing listener is its own bug,
    // rethrown on its own as an emitter would, not a failed subscription.
    try {
      this.emit(up ? 'bus:up' : 'bus:down');
    } catch (error) {
      queueMicrotask(() => {
        throw error;
      });
    }
  }

  #report(tier: ErrorTier, error: CacheError): void {
    this.#m.errors[tier]++;
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else this.#options.logger?.warn({ err: error, code: error.code, tier }, error.message);
  }
}

/** CacheNamespace prefixes keys and tags of a parent cache; see Cache.namespace. */
class CacheNamespace implements CacheApi {
  readonly #parent: CacheApi;
  readonly #ns: string;

  constructor(parent: CacheApi, ns: string) {
    this.#parent = parent;
    this.#ns = ns;
  }

  #call(options: CallOptions | undefined): CallOptions | undefined {
    if (options?.tags === undefined) return options;
    checkTags(options.tags, 'tags');
    return { ...options, tags: options.tags.map((tag) => this.#ns + tag) };
  }

  /** key is the parent's key for `key`; refused unless a string (`ns + 5` was stored as `ns:5`). */
  #key(key: string): string {
    checkKey(key);
    return this.#ns + key;
  }

  getOrSet<T>(key: string, loader: Loader<T>, options?: CallOptions): Promise<T> {
    const ns = this.#ns;
    const scoped: Loader<T> = (context) => {
      const tagged: LoaderContext<T> = {
        key: context.key.slice(ns.length),
        stale: context.stale,
        setTtl: context.setTtl,
        setTags: (tags) => {
          checkTags(tags, 'setTags');
          context.setTags(tags.map((tag) => ns + tag));
        },
        signal: context.signal,
      };
      return loader(tagged);
    };
    try {
      checkLoader(loader);
      return this.#parent.getOrSet(this.#key(key), scoped, this.#call(options));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async get<T>(key: string): Promise<T | undefined> {
    return this.#parent.get<T>(this.#key(key));
  }

  async set<T>(key: string, value: T, options?: CallOptions): Promise<void> {
    return this.#parent.set(this.#key(key), value, this.#call(options));
  }

  async delete(key: string): Promise<void> {
    return this.#parent.delete(this.#key(key));
  }

  async deleteByTag(tags: string | readonly string[]): Promise<void> {
    if (typeof tags !== 'string') checkTags(tags, 'tags');
    const list = typeof tags === 'string' ? [tags] : tags;
    return this.#parent.deleteByTag(list.map((tag) => this.#ns + tag));
  }

  wrap<A extends unknown[], T>(
    fn: (...args: A) => T | Promise<T>,
    options: WrapOptions<A> = {},
  ): (...args: A) => Promise<T> {
    return wrapWith(this, fn, options);
  }

  namespace(name: string): CacheApi {
    return new CacheNamespace(this, `${name}:`);
  }
}

/** createCache validates `options` (throwing CacheOptionError) and returns a Cache. */
export function createCache(options: CacheOptions = {}): Cache {
  return new Cache(options);
}

/** wrapWith memoizes `fn` through `cache.getOrSet`, keyed by its arguments (shared by Cache and its namespaces). */
function wrapWith<A extends unknown[], T>(
  cache: Pick<CacheApi, 'getOrSet'>,
  fn: (...args: A) => T | Promise<T>,
  options: WrapOptions<A>,
): (...args: A) => Promise<T> {
  const { key, ...call } = options;
  if (key === undefined && fn.name === '')
    throw new CacheOptionError('key', 'wrap needs a key function for an anonymous function');
  // Not JSON.stringify: it writes every Map and Set as {}, undefined as null, a Date as its ISO
  // string and throws on a BigInt, so f(new Set([2])) was answered with f(new Set([1]))'s result.
  // jsonSerializer keeps them apart and writes plain JSON arguments exactly as JSON.stringify did.
  const keyOf = key ?? ((...args: A) => `${fn.name}:${argumentsText(args)}`);
  const hasCall = Object.keys(call).length > 0;
  return (...args: A) => {
    let memoKey: string;
    try {
      memoKey = keyOf(...args);
    } catch (error) {
      // A key function that throws (or a cyclic argument) rejects like every other failure.
      return Promise.reject(error);
    }
    return cache.getOrSet(memoKey, () => fn(...args), hasCall ? call : undefined);
  };
}

/**
 * Every option of the cache, its default, and their validation in one place.
 */

import type { Cluster, ClusterNode, ClusterOptions, Redis, RedisOptions } from 'ioredis';
import { Registry } from 'prom-client';
import { parseDuration, parseSize } from '../config/index.js';
import { redactRedisUrl } from '../redis-secrets.js';
import type { BackoffConfig } from './backoff.js';
import type { BreakerConfig } from './breaker.js';
import { type Clock, type Random, systemClock } from './clock.js';
import type { EntryPolicy } from './entry.js';
import { CacheOptionError } from './errors.js';
import type { MemoryStoreLimits } from './memory-store.js';
import { jsonSerializer, type Serializer } from './serializer.js';

/** Duration is milliseconds as a number, or a string as in scaleplane.yaml (`250ms`, `30s`, `1h`). */
export type Duration = number | string;

/** CacheLogger receives background failures when nobody listens to 'error' (pino fits). */
export interface CacheLogger {
  warn(object: object, message?: string): void;
}

/** EntryOptions tune how long values live; on `createCache` they are the defaults of every call. */
export interface EntryOptions {
  /** Time to live. @defaultValue '5m' */
  ttl?: Duration;
  /** ±fraction of the TTL picked at random per write, 0–1. @defaultValue 0.1 */
  jitter?: number;
  /** Fraction of the TTL after which a hit refreshes in the background, 0 (off) to <1. @defaultValue 0 */
  earlyRefresh?: number;
  /** After the TTL, serve the stale value while one background load refreshes it. @defaultValue 0 */
  staleWhileRevalidate?: Duration;
  /** After the TTL, serve the last value when the loader fails (grace period). @defaultValue 0 */
  staleIfError?: Duration;
  /**
   * After a load fails and a stale value stands in for it (`staleIfError`, or a failed background
   * refresh), the key's loader is not called again in this process for this long: reads get the
   * stale value meanwhile instead of each calling a sick database. 0 calls it on every read.
   * @defaultValue '10s'
   */
  staleIfErrorBackoff?: Duration;
  /** TTL of a loader result of undefined or null; 0 stores nothing. @defaultValue 0 */
  negativeTtl?: Duration;
}

/** LockOptions configure the distributed lock that lets one process in the fleet run a loader. */
export interface LockOptions {
  /** Lock expiry: longer than your slowest loader. @defaultValue '10s' */
  ttl?: Duration;
  /** How long a process waits for the holder to fill the key, then loads itself. @defaultValue '5s' */
  wait?: Duration;
  /** Poll interval while waiting (the fill notification usually comes first). @defaultValue '50ms' */
  poll?: Duration;
}

/** SentinelTarget names a Sentinel-monitored master. */
export interface SentinelTarget {
  /** Sentinels to ask where the master is (one is enough; list them all). */
  sentinels: { host: string; port: number }[];
  /** The master's name in the Sentinel configuration (`sentinel monitor NAME …`). */
  name: string;
}

/** ClusterTarget is a Redis Cluster to connect to. */
export interface ClusterTarget {
  /** Seed nodes; the rest of the cluster is discovered from them. */
  nodes: ClusterNode[];
  /** Extra ioredis Cluster options (the cache sets offline queue, timeouts and retry itself). */
  options?: ClusterOptions;
}

/**
 * RedisTierOptions configure the Redis tier. Give one of `url` (standalone), `sentinel`,
 * `cluster`, or `client` (yours, of any kind).
 */
export interface RedisTierOptions {
  /**
   * An ioredis client you own (standalone, Sentinel or Cluster). The cache does not close it. Give it
   * `commandTimeout` and `enableOfflineQueue: false` or the cache applies its own timeout. Its errors
   * are reported as ioredis makes them: a refused AUTH's holds the password (the cache does not patch
   * your client to hide it; the invalidation channel's connection, which the cache duplicates, does).
   */
  client?: Redis | Cluster;
  /** `redis://…` URL for a client the cache creates and closes. @defaultValue 'redis://127.0.0.1:6379' */
  url?: string;
  /** Connect through Redis Sentinel; the cache follows failovers to the new master. */
  sentinel?: SentinelTarget;
  /** Connect to a Redis Cluster. */
  cluster?: ClusterTarget;
  /** Extra ioredis options for the client the cache creates (for Cluster: of each node's connection). */
  options?: RedisOptions;
  /**
   * A command slower than this counts as failed and the read falls through. On the connection the
   * cache creates (standalone, Sentinel) a read stuck this long (up to 1.25×) resets the connection;
   * on Cluster and on your own client each command is timed. @defaultValue '500ms'
   */
  commandTimeout?: Duration;
  /** Circuit breaker. @defaultValue { failureThreshold: 5, openMs: '1s' } */
  breaker?: { failureThreshold?: number; openMs?: Duration };
  /** Reconnect backoff of the client the cache creates. @defaultValue { baseMs: 50, maxMs: 2000 } */
  reconnect?: { baseMs?: number; maxMs?: number };
  /** Writes (set, delete, invalidations) kept while Redis is away, replayed on reconnect. @defaultValue 1000 */
  offlineQueue?: number;
  /**
   * How long the marker `delete` leaves in Redis in place of the key lives. A load that began before
   * the delete and ends within this time is not stored (it read the database from before); one that
   * ends later is caught only by the delete's notice. Longer than your slowest loader. @defaultValue '10s'
   */
  tombstoneTtl?: Duration;
  /**
   * How often the invalidation channel's connection is checked with a PING; a PING still unanswered
   * at the next check means the link is dead without having closed (a partition, a host gone without
   * a reset): the connection is dropped and made again, and the memory tier emptied as after any lost
   * subscription. 0 turns it off (then such a link goes unnoticed until TCP keepalive gives up, many
   * minutes, while the memory tier serves what other instances changed). @defaultValue '1s'
   */
  busHeartbeat?: Duration;
}

/** CacheOptions configure `createCache`. */
export interface CacheOptions extends EntryOptions {
  /** `cache` label of the metrics. @defaultValue 'default' */
  name?: string;
  /** Prefix of every Redis key and of the invalidation channel. @defaultValue 'sp:cache:' */
  prefix?: string;
  /** The memory tier; false turns it off. @defaultValue { maxEntries: 10000, maxBytes: '64Mi' } */
  memory?: false | { maxEntries?: number; maxBytes?: number | string };
  /** The Redis tier; false or absent means memory only. */
  redis?: false | RedisTierOptions;
  /** The distributed lock for loads (Redis tier only); true takes the defaults. @defaultValue false */
  lock?: boolean | LockOptions;
  /** Evict other instances' memory tiers on delete/set/deleteByTag (Redis pub/sub). @defaultValue true */
  invalidation?: boolean;
  /** @defaultValue jsonSerializer (keeps Date, Map, Set, BigInt, Buffer, typed arrays) */
  serializer?: Serializer;
  /** Registry for the metrics. @defaultValue a new Registry */
  registry?: Registry;
  /** @defaultValue the system clock */
  clock?: Clock;
  /** @defaultValue Math.random */
  random?: Random;
  /** Where background failures go when nothing listens to 'error'. @defaultValue none */
  logger?: CacheLogger;
  /** Default `hardTimeout` of every load (see CallOptions). @defaultValue none */
  hardTimeout?: Duration;
}

/** CallOptions are the per-call options of `getOrSet`, `set` and `wrap`. */
export interface CallOptions extends EntryOptions {
  /** Tags for `deleteByTag`. */
  tags?: readonly string[];
  /** Use the distributed lock for this call (needs `lock` configured or true here). */
  lock?: boolean;
  /**
   * With a stale value at hand, answer with it when the loader takes longer than this. The load goes
   * on (one per key: later calls get the stale value too, without starting another). @defaultValue none
   */
  timeout?: Duration;
  /**
   * A load still running after this is abandoned: its callers get the stale value within
   * `staleIfError`, else a CacheError CACHE_LOADER_TIMEOUT; the loader's `signal` aborts, its result is
   * not stored, and the next call starts a new load. Without it a loader that never settles holds
   * every later call of its key in this process. @defaultValue none (the cache's `hardTimeout`)
   */
  hardTimeout?: Duration;
  /**
   * This caller stops waiting when it aborts: its promise rejects with the signal's reason at once.
   * The load it started or joined goes on for the other callers and is stored as usual; only
   * `hardTimeout` stops a load. @defaultValue none
   */
  signal?: AbortSignal;
}

/** ResolvedLock is LockOptions in ms. */
export interface ResolvedLock {
  ttl: number;
  wait: number;
  poll: number;
}

/** ResolvedRedis is RedisTierOptions after defaults. */
export interface ResolvedRedis {
  client: Redis | Cluster | undefined;
  url: string;
  sentinel: SentinelTarget | undefined;
  cluster: ClusterTarget | undefined;
  options: RedisOptions;
  commandTimeout: number;
  breaker: BreakerConfig;
  reconnect: BackoffConfig;
  offlineQueue: number;
  tombstoneTtl: number;
  busHeartbeat: number;
}

/** ResolvedOptions is CacheOptions after defaults and validation. */
export interface ResolvedOptions {
  name: string;
  prefix: string;
  entry: EntryPolicy;
  /** staleIfErrorBackoff in ms. */
  staleIfErrorBackoff: number;
  memory: MemoryStoreLimits | undefined;
  redis: ResolvedRedis | undefined;
  lock: ResolvedLock | undefined;
  invalidation: boolean;
  serializer: Serializer;
  registry: Registry;
  clock: Clock;
  random: Random;
  logger: CacheLogger | undefined;
  hardTimeout: number | undefined;
}

/** toMs turns a Duration into ms, throwing CacheOptionError naming `option`. */
export function toMs(value: Duration, option: string): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0)
      throw new CacheOptionError(option, `must be ms >= 0, got ${value}`);
    return value;
  }
  try {
    return parseDuration(value);
  } catch (error) {
    throw new CacheOptionError(option, (error as Error).message);
  }
}

function fraction(value: number, option: string, max = 1): number {
  if (!Number.isFinite(value) || value < 0 || value > max)
    throw new CacheOptionError(option, `must be between 0 and ${max}, got ${value}`);
  return value;
}

function positiveInt(value: number, option: string): number {
  if (!Number.isInteger(value) || value < 0)
    throw new CacheOptionError(option, `must be an integer >= 0, got ${value}`);
  return value;
}

/** positiveMs is toMs for a duration that must be above 0, throwing CacheOptionError naming `option`. */
export function positiveMs(value: Duration, option: string): number {
  const ms = toMs(value, option);
  if (ms <= 0) throw new CacheOptionError(option, `must be > 0, got ${ms}`);
  return ms;
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function hasMethods(value: unknown, ...methods: string[]): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function')
  );
}

// A misspelt option (`tll`) would otherwise be ignored and its default used without a word.
const CACHE_KEYS = new Set([
  'ttl',
  'jitter',
  'earlyRefresh',
  'staleWhileRevalidate',
  'staleIfError',
  'staleIfErrorBackoff',
  'negativeTtl',
  'name',
  'prefix',
  'memory',
  'redis',
  'lock',
  'invalidation',
  'serializer',
  'registry',
  'clock',
  'random',
  'logger',
  'hardTimeout',
]);
const REDIS_KEYS = new Set([
  'client',
  'url',
  'sentinel',
  'cluster',
  'options',
  'commandTimeout',
  'breaker',
  'reconnect',
  'offlineQueue',
  'tombstoneTtl',
  'busHeartbeat',
]);

function knownKeys(value: Record<string, unknown>, known: Set<string>, path: string): void {
  for (const key of Object.keys(value))
    if (!known.has(key) && value[key] !== undefined)
      throw new CacheOptionError(`${path}${key}`, 'unknown option');
}

/**
 * checkKey throws CacheOptionError naming `key` unless it is a string: a number or undefined failed
 * deep inside with `key.startsWith is not a function`, and in a namespace was stored as `ns:5`.
 */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw new CacheOptionError('key', `must be a string, got ${describe(key)}`);
}

/** checkLoader throws CacheOptionError naming `loader` unless it is a function. */
export function checkLoader(loader: unknown): void {
  if (typeof loader !== 'function')
    throw new CacheOptionError('loader', `must be a function, got ${describe(loader)}`);
}

/** checkTags throws CacheOptionError naming `option` unless `tags` is an array of strings. */
export function checkTags(tags: unknown, option: string): asserts tags is readonly string[] {
  if (!Array.isArray(tags) || tags.some((tag) => typeof tag !== 'string'))
    throw new CacheOptionError(option, `must be an array of strings, got ${describe(tags)}`);
}

/** checkCallOptions validates what resolveEntryPolicy does not: tags and lock of one call. */
export function checkCallOptions(options: CallOptions): void {
  const { tags, lock, signal } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new CacheOptionError('signal', `must be an AbortSignal, got ${describe(signal)}`);
  if (tags !== undefined) checkTags(tags, 'tags');
  if (lock !== undefined && typeof lock !== 'boolean')
    throw new CacheOptionError('lock', `must be true or false, got ${describe(lock)}`);
}

/** checkRedis validates the shape of the Redis tier options (values are checked as they resolve). */
function checkRedis(redis: unknown): asserts redis is RedisTierOptions {
  if (!isObject(redis))
    throw new CacheOptionError(
      'redis',
      `must be an object ({ url: 'redis://…' }) or false, got ${describe(redis)}`,
    );
  knownKeys(redis, REDIS_KEYS, 'redis.');
  const targets = (['client', 'url', 'sentinel', 'cluster'] as const).filter((t) => redis[t] !== undefined);
  if (targets.length > 1)
    throw new CacheOptionError(
      `redis.${targets[1]}`,
      `give one of client, url, sentinel, cluster (got ${targets.join(', ')})`,
    );
  const { client, url, sentinel, cluster } = redis;
  if (
    client !== undefined &&
    !(
      hasMethods(client, 'getBuffer', 'set', 'publish') && isObject((client as { options?: unknown }).options)
    )
  )
    throw new CacheOptionError(
      'redis.client',
      `must be an ioredis Redis or Cluster client, got ${describe(client)}`,
    );
  if (url !== undefined && (typeof url !== 'string' || !/^rediss?:\/\//.test(url)))
    // Quoted without its password: `valkey://:pw@host` is a URL that names one.
    throw new CacheOptionError(
      'redis.url',
      `must be a redis:// or rediss:// URL, got ${describe(typeof url === 'string' ? redactRedisUrl(url) : url)}`,
    );
  if (sentinel !== undefined) {
    if (!isObject(sentinel))
      throw new CacheOptionError('redis.sentinel', `must be an object, got ${describe(sentinel)}`);
    if (!Array.isArray(sentinel.sentinels) || sentinel.sentinels.length === 0)
      throw new CacheOptionError('redis.sentinel.sentinels', 'needs at least one { host, port }');
    if (typeof sentinel.name !== 'string' || sentinel.name === '')
      throw new CacheOptionError('redis.sentinel.name', 'needs the master name');
  }
  if (cluster !== undefined) {
    if (!isObject(cluster))
      throw new CacheOptionError('redis.cluster', `must be an object, got ${describe(cluster)}`);
    if (!Array.isArray(cluster.nodes) || cluster.nodes.length === 0)
      throw new CacheOptionError('redis.cluster.nodes', 'needs at least one seed node');
  }
  for (const field of ['options', 'breaker', 'reconnect'] as const)
    if (redis[field] !== undefined && !isObject(redis[field]))
      throw new CacheOptionError(`redis.${field}`, `must be an object, got ${describe(redis[field])}`);
}

/** checkShape validates the options that are objects or functions, before any value is resolved. */
function checkShape(options: CacheOptions): void {
  if (!isObject(options))
    throw new CacheOptionError('options', `must be an object, got ${describe(options)}`);
  knownKeys(options, CACHE_KEYS, '');
  const o = options as Record<string, unknown>;
  if (o.memory !== undefined && o.memory !== false && !isObject(o.memory))
    throw new CacheOptionError('memory', `must be an object or false, got ${describe(o.memory)}`);
  if (o.redis !== undefined && o.redis !== false) checkRedis(o.redis);
  if (o.lock !== undefined && typeof o.lock !== 'boolean' && !isObject(o.lock))
    throw new CacheOptionError('lock', `must be true, false or { ttl, wait, poll }, got ${describe(o.lock)}`);
  if (o.name !== undefined && (typeof o.name !== 'string' || o.name === ''))
    throw new CacheOptionError('name', `must be a non-empty string, got ${describe(o.name)}`);
  if (o.invalidation !== undefined && typeof o.invalidation !== 'boolean')
    throw new CacheOptionError('invalidation', `must be true or false, got ${describe(o.invalidation)}`);
  const objects: [string, string[]][] = [
    ['serializer', ['serialize', 'deserialize']],
    ['registry', ['registerMetric', 'getSingleMetric']],
    ['clock', ['now']],
    ['logger', ['warn']],
  ];
  for (const [field, methods] of objects)
    if (o[field] !== undefined && !hasMethods(o[field], ...methods))
      throw new CacheOptionError(field, `must have ${methods.map((m) => `${m}()`).join(' and ')}`);
  if (o.random !== undefined && typeof o.random !== 'function')
    throw new CacheOptionError('random', `must be a function returning [0, 1), got ${describe(o.random)}`);
}

function atLeastOne(value: number, option: string): number {
  if (!Number.isInteger(value) || value < 1)
    throw new CacheOptionError(option, `must be an integer >= 1, got ${value}`);
  return value;
}

function resolveReconnect(reconnect: RedisTierOptions['reconnect']): BackoffConfig {
  const baseMs = positiveMs(reconnect?.baseMs ?? 50, 'redis.reconnect.baseMs');
  const maxMs = toMs(reconnect?.maxMs ?? Math.max(2000, baseMs), 'redis.reconnect.maxMs');
  if (maxMs < baseMs)
    throw new CacheOptionError('redis.reconnect.maxMs', `must be >= baseMs (${baseMs}), got ${maxMs}`);
  return { baseMs, maxMs };
}

/** resolveEntryPolicy merges `options` over `base`, validating each field. */
export function resolveEntryPolicy(options: EntryOptions, base: EntryPolicy): EntryPolicy {
  const ttl = options.ttl === undefined ? base.ttl : toMs(options.ttl, 'ttl');
  if (ttl <= 0) throw new CacheOptionError('ttl', 'must be > 0');
  return {
    ttl,
    jitter: options.jitter === undefined ? base.jitter : fraction(options.jitter, 'jitter'),
    earlyRefresh:
      options.earlyRefresh === undefined ? base.earlyRefresh : fraction(options.earlyRefresh, 'earlyRefresh'),
    staleWhileRevalidate:
      options.staleWhileRevalidate === undefined
        ? base.staleWhileRevalidate
        : toMs(options.staleWhileRevalidate, 'staleWhileRevalidate'),
    staleIfError:
      options.staleIfError === undefined ? base.staleIfError : toMs(options.staleIfError, 'staleIfError'),
    negativeTtl:
      options.negativeTtl === undefined ? base.negativeTtl : toMs(options.negativeTtl, 'negativeTtl'),
  };
}

/** DEFAULT_ENTRY_POLICY is what a call gets with no options anywhere. */
export const DEFAULT_ENTRY_POLICY: EntryPolicy = {
  ttl: 300_000,
  jitter: 0.1,
  earlyRefresh: 0,
  staleWhileRevalidate: 0,
  staleIfError: 0,
  negativeTtl: 0,
};

/** resolveOptions applies every default and validates everything at once; throws CacheOptionError. */
export function resolveOptions(options: CacheOptions = {}): ResolvedOptions {
  checkShape(options);
  const memory = options.memory === false ? undefined : (options.memory ?? {});
  let maxBytes = 64 * 1024 * 1024;
  if (memory?.maxBytes !== undefined) {
    try {
      maxBytes = typeof memory.maxBytes === 'number' ? memory.maxBytes : parseSize(memory.maxBytes);
    } catch (error) {
      throw new CacheOptionError('memory.maxBytes', (error as Error).message);
    }
    positiveInt(maxBytes, 'memory.maxBytes');
  }
  const redis = options.redis === false || options.redis === undefined ? undefined : options.redis;
  const lockInput = options.lock === true ? {} : options.lock === false ? undefined : options.lock;
  if (lockInput !== undefined && redis === undefined)
    throw new CacheOptionError('lock', 'the distributed lock needs the Redis tier');
  const prefix = options.prefix ?? 'sp:cache:';
  if (typeof prefix !== 'string') throw new CacheOptionError('prefix', 'must be a string');
  return {
    name: options.name ?? 'default',
    prefix,
    entry: resolveEntryPolicy(options, DEFAULT_ENTRY_POLICY),
    staleIfErrorBackoff: toMs(options.staleIfErrorBackoff ?? 10_000, 'staleIfErrorBackoff'),
    memory: memory && {
      maxEntries: positiveInt(memory.maxEntries ?? 10_000, 'memory.maxEntries'),
      maxBytes,
    },
    redis: redis && {
      client: redis.client,
      url: redis.url ?? 'redis://127.0.0.1:6379',
      sentinel: redis.sentinel,
      cluster: redis.cluster,
      options: redis.options ?? {},
      commandTimeout: positiveMs(redis.commandTimeout ?? 500, 'redis.commandTimeout'),
      breaker: {
        failureThreshold: atLeastOne(redis.breaker?.failureThreshold ?? 5, 'redis.breaker.failureThreshold'),
        openMs: toMs(redis.breaker?.openMs ?? 1000, 'redis.breaker.openMs'),
      },
      reconnect: resolveReconnect(redis.reconnect),
      offlineQueue: positiveInt(redis.offlineQueue ?? 1000, 'redis.offlineQueue'),
      // PX takes whole ms.
      tombstoneTtl: Math.ceil(positiveMs(redis.tombstoneTtl ?? 10_000, 'redis.tombstoneTtl')),
      busHeartbeat: toMs(redis.busHeartbeat ?? 1000, 'redis.busHeartbeat'),
    },
    lock: lockInput && {
      ttl: positiveMs(lockInput.ttl ?? 10_000, 'lock.ttl'),
      wait: toMs(lockInput.wait ?? 5000, 'lock.wait'),
      poll: Math.max(1, toMs(lockInput.poll ?? 50, 'lock.poll')),
    },
    invalidation: options.invalidation ?? true,
    serializer: options.serializer ?? jsonSerializer,
    registry: options.registry ?? new Registry(),
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    logger: options.logger,
    hardTimeout:
      options.hardTimeout === undefined ? undefined : positiveMs(options.hardTimeout, 'hardTimeout'),
  };
}

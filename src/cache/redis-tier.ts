/**
 * The Redis tier's I/O shell: every command goes through one gate that checks the connection and the
 * circuit breaker, bounds the wait, and turns failures into a result instead of a throw. Writes that
 * matter after an outage (deletes, explicit sets, invalidations) wait in a bounded queue and are
 * replayed on reconnect; reads never wait for a sick Redis.
 */

import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { clusterSecrets, createRedis, guardRedisSecrets, redisSecrets } from '../redis-secrets.js';
import { reconnectDelay } from './backoff.js';
import {
  type BreakerState,
  breakerAllow,
  breakerFailure,
  breakerReconnected,
  breakerSuccess,
  initialBreakerState,
} from './breaker.js';
import type { Random } from './clock.js';
import { type CacheError, CacheOptionError, RedisTierError } from './errors.js';
import type { ResolvedRedis } from './options.js';
import { defineScripts, type ScriptCommands } from './scripts.js';
import { StallWatch } from './stall-watch.js';
import { PRUNE_EVERY_WRITES, pruneTagSample, type TagIndex } from './tag-prune.js';

/** RedisClient is what the tier drives: a standalone/Sentinel `Redis` or a `Cluster`. */
export type RedisClient = Redis | Cluster;

/** RedisResult is a command's outcome: a value, or why there is none. */
export type RedisResult<T> =
  | { ok: true; value: T }
  | { ok: false; reason: 'unavailable' | 'failed' | 'rejected' };

/** RedisTierHooks receive the tier's state changes and background failures. */
export interface RedisTierHooks {
  up(): void;
  down(): void;
  error(error: CacheError): void;
  dropped(): void;
}

/** Step bounds one step of a write made of several (writeInSteps) by the command timeout. */
export type Step = <V>(step: Promise<V>) => Promise<V>;

/**
 * WriteRun sends one write. `replayed` is true when it runs from the offline queue (after a failed
 * attempt, or behind writes that did): other instances may have written the key meanwhile. `step`
 * times each step of a write made with writeInSteps (for any other write it times nothing: the
 * whole write is timed).
 */
export type WriteRun = (client: RedisClient, replayed: boolean, step: Step) => Promise<unknown>;

/** LockAttempt is how a tryLock ended (see tryLock). */
export interface LockAttempt {
  taken: boolean | undefined;
  late?: Promise<boolean>;
}

/** TAG_DELETE_CHUNK is how many members of a tag's index one step of deleteTagged reads, unlists and tombstones. */
export const TAG_DELETE_CHUNK = 500;

/** TagDeletion is how far a deleteByTag of one tag has come, kept across attempts of a replayed write. */
export interface TagDeletion {
  /** The SSCAN cursor of the next chunk ('0' before the first). */
  cursor: string;
  /** The scan is back at cursor 0: every member the index listed when it began has been read. */
  scanned: boolean;
  /** Members read and not yet tombstoned (an attempt failed in between; their SREM may have landed). */
  carried: Set<string>;
}

interface QueuedWrite {
  /** Issue order: the queue replays by it, not by the order the failures arrived in. */
  seq: number;
  operation: string;
  run: WriteRun;
  /** Called when Redis refuses the command itself (a reply error): it is not retried. */
  rejected: (() => void) | undefined;
  /** Each step is timed, not the whole write (writeInSteps). */
  stepwise: boolean;
}

const UNAVAILABLE = { ok: false, reason: 'unavailable' } as const;
const FAILED = { ok: false, reason: 'failed' } as const;
const REJECTED = { ok: false, reason: 'rejected' } as const;
const NOTHING = Promise.resolve(undefined);
const UNTIMED: Step = (step) => step;
// The stall watch checks this many times per command timeout: a stuck read is noticed after
// between 1 and 1 + 1/STALL_TICKS timeouts.
const STALL_TICKS = 4;

function timeout<T>(promise: Promise<T>, ms: number, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new RedisTierError('CACHE_REDIS_TIMEOUT', operation, `no reply in ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * notify calls a state hook (which emits to user listeners). A throwing listener is the listener's
 * bug: it is rethrown on its own, as Node does for emitters, and never turns a command that worked
 * into a failed one.
 */
function notify(hook: () => void): void {
  try {
    hook();
  } catch (error) {
    queueMicrotask(() => {
      throw error;
    });
  }
}

// Replies that say "this server cannot serve you now" rather than "this command is wrong": a demoted
// master during a failover, a server loading its data, a cluster without quorum. They count as Redis
// failures (breaker, offline queue), never as rejected commands.
const NOT_NOW = new Set(['READONLY', 'LOADING', 'MASTERDOWN', 'CLUSTERDOWN', 'TRYAGAIN', 'BUSY']);

/**
 * replyCode is the error code of a Redis error reply: by the protocol, its first word
 * (`READONLY You can't write against a read only replica.`). undefined for other errors.
 */
function replyCode(error: unknown): string | undefined {
  if ((error as Error | undefined)?.name !== 'ReplyError') return undefined;
  const message = (error as Error).message;
  const space = message.indexOf(' ');
  return space < 0 ? message : message.slice(0, space);
}

/** isRejected is true for a reply error about the command itself (the connection is healthy). */
function isRejected(error: unknown): boolean {
  const code = replyCode(error);
  return code !== undefined && !NOT_NOW.has(code);
}

function configuredTimeout(client: RedisClient): number | undefined {
  const options = client.options as { commandTimeout?: number; redisOptions?: { commandTimeout?: number } };
  return options.commandTimeout ?? options.redisOptions?.commandTimeout;
}

/**
 * createClient makes the client the tier owns: standalone, Sentinel or Cluster, with the tier's
 * failure settings. Its errors never carry the password of the URL or the options (see
 * guardRedisSecrets): a refused AUTH held it in its fields, and the tier reports them.
 */
function createClient(config: ResolvedRedis, random: Random): RedisClient {
  const retry = (attempt: number) => reconnectDelay(attempt, config.reconnect, random);
  const connection: RedisOptions = {
    ...config.options,
    // A Cluster spreads commands over several connections, so only there does ioredis time each
    // command; on one connection the tier's stall watch and its own write timeout do.
    commandTimeout: config.cluster ? config.commandTimeout : undefined,
    // A sick Redis must not make reads wait: commands fail at once while disconnected and the
    // cache decides itself what to replay.
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
  };
  if (config.cluster) {
    const { nodes, options } = config.cluster;
    const redisOptions = { ...options?.redisOptions, ...connection };
    return guardRedisSecrets(
      new Cluster(nodes, {
        ...options,
        enableOfflineQueue: false,
        clusterRetryStrategy: retry,
        redisOptions,
      }),
      // A seed may carry a password of its own (`redis://:password@host:port`).
      clusterSecrets(nodes, redisOptions),
    );
  }
  // ioredis keeps the commands in flight when a connection drops and fails them only after
  // maxRetriesPerRequest reconnects (default 20); the cache wants them failed at once.
  connection.maxRetriesPerRequest = 0;
  if (config.sentinel)
    return guardRedisSecrets(
      new Redis({
        ...connection,
        sentinels: config.sentinel.sentinels,
        name: config.sentinel.name,
        // Without it a failover leaves the client on the demoted master, whose writes fail READONLY.
        failoverDetector: true,
        // And should the failover notice be missed, a READONLY reply sends the client to ask again.
        reconnectOnError: (error) => replyCode(error) === 'READONLY',
        retryStrategy: retry,
      }),
      redisSecrets(undefined, connection),
    );
  return createRedis(
    config.url,
    { ...connection, retryStrategy: retry },
    (detail) => new CacheOptionError('redis.url', detail),
  );
}

/** RedisTier owns (or borrows) an ioredis client and runs the cache's commands through the breaker. */
export class RedisTier {
  /** client is the connection commands go to. */
  readonly client: RedisClient;
  readonly #owned: boolean;
  readonly #config: ResolvedRedis;
  readonly #hooks: RedisTierHooks;
  readonly #ownTimeout: number | undefined;
  readonly #watch: StallWatch | undefined;
  readonly #watchTimer: NodeJS.Timeout | undefined;
  #breaker: BreakerState = initialBreakerState();
  #queue: QueuedWrite[] = [];
  #writeSeq = 0;
  #tagWrites = 0;
  #flushing = false;
  #up = false;
  #closed = false;

  constructor(config: ResolvedRedis, deps: { random: Random; hooks: RedisTierHooks }) {
    this.#config = config;
    this.#hooks = deps.hooks;
    if (config.client) {
      this.client = config.client;
      this.#owned = false;
      this.#ownTimeout = configuredTimeout(config.client) === undefined ? config.commandTimeout : undefined;
    } else {
      this.client = createClient(config, deps.random);
      this.#owned = true;
      if (config.cluster) this.#ownTimeout = undefined;
      else {
        this.#ownTimeout = config.commandTimeout;
        this.#watch = new StallWatch(STALL_TICKS);
        this.#watchTimer = setInterval(
          this.#checkStall,
          Math.max(5, config.commandTimeout / STALL_TICKS),
        ).unref();
      }
    }
    defineScripts(this.client);
    this.client.on('ready', this.#onReady);
    this.client.on('close', this.#onClose);
    this.client.on('error', this.#onClientError);
    if (this.client.status === 'ready') queueMicrotask(this.#onReady);
  }

  /** up is true while commands reach Redis (connected and breaker closed). */
  get up(): boolean {
    return this.#up;
  }

  /** queued is the number of writes waiting for Redis to return. */
  get queued(): number {
    return this.#queue.length;
  }

  /**
   * exec runs one command through the gate; never throws. The command timeout bounds the whole of
   * `run`, or with `stepwise` each step `run` passes to its `step` (a write of many chunks).
   */
  async exec<T>(
    operation: string,
    run: (client: RedisClient, step: Step) => Promise<T>,
    stepwise = false,
  ): Promise<RedisResult<T>> {
    if (!this.#admit()) return UNAVAILABLE;
    try {
      const ms = this.#ownTimeout;
      if (stepwise) {
        const step: Step = ms === undefined ? UNTIMED : (pending) => timeout(pending, ms, operation);
        const value = await run(this.client, step);
        this.#succeeded();
        return { ok: true, value };
      }
      const pending = run(this.client, UNTIMED);
      const value = await (ms === undefined ? pending : timeout(pending, ms, operation));
      this.#succeeded();
      return { ok: true, value };
    } catch (error) {
      // Redis answered with an error: the connection is healthy, the command was wrong.
      if (isRejected(error)) {
        this.#succeeded();
        this.#hooks.error(new RedisTierError('CACHE_REDIS_COMMAND', operation, 'rejected', { cause: error }));
        return REJECTED;
      }
      this.#failed(operation, error);
      return FAILED;
    }
  }

  /**
   * write runs a command that must reach Redis eventually: when Redis is away it waits in the queue.
   * `rejected` is called if Redis refuses it (a reply error, e.g. OOM or a value over
   * proto-max-bulk-len), now or when it is replayed.
   */
  write(operation: string, run: WriteRun, rejected?: () => void): Promise<void> {
    return this.#submit({ seq: ++this.#writeSeq, operation, run, rejected, stepwise: false });
  }

  /**
   * writeInSteps is write for a write of many commands (deleteByTag over a large tag): the command
   * timeout bounds each step `run` passes to `step`, not the whole. Timed as one, a tag of 100,000
   * keys could never finish within it: each attempt timed out, was queued and replayed, and the
   * reads behind it on the connection waited. After a failed step the write is replayed from the
   * queue; `run` keeps its own progress.
   */
  writeInSteps(operation: string, run: WriteRun): Promise<void> {
    return this.#submit({ seq: ++this.#writeSeq, operation, run, rejected: undefined, stepwise: true });
  }

  async #submit(write: QueuedWrite): Promise<void> {
    const { operation, run, rejected } = write;
    // Behind older writes still waiting: sent now, it would land before them and a replayed older
    // value would overwrite it.
    if (this.#queue.length > 0) {
      this.#enqueue(write);
      if (this.#up) void this.#flush();
      return;
    }
    const result = await this.exec(operation, (client, step) => run(client, false, step), write.stepwise);
    if (result.ok) return;
    if (result.reason === 'rejected') rejected?.();
    else this.#enqueue(write);
  }

  /**
   * get reads the bytes of a key: null when absent, undefined when Redis could not answer. Never
   * rejects.
   */
  get(key: string): Promise<Buffer | null | undefined> {
    const pending = this.read(key);
    return pending === undefined ? NOTHING : pending.then(this.#gotReply, this.#gotNoReply);
  }

  /**
   * read sends a GET for the value's bytes (the cache decodes its header from them and turns only
   * the payload into a string) and returns the client's own promise, or undefined when the gate is
   * shut (the caller treats that as "Redis could not answer"). The caller must report how it ended,
   * with `readDone()` or `readFailed(error)`. `get` is read plus that report; the cache's hit path
   * calls read itself so that it awaits the client's promise directly: one promise and one
   * microtask fewer per hit, the same count as awaiting a bare `client.get`.
   */
  read(key: string): Promise<Buffer | null> | undefined {
    if (!this.#admit()) return undefined;
    let pending: Promise<Buffer | null>;
    try {
      pending = this.client.getBuffer(key);
    } catch (error) {
      this.#failed('get', error);
      return undefined;
    }
    const watch = this.#watch;
    if (watch) watch.sent++;
    else if (this.#ownTimeout !== undefined) pending = timeout(pending, this.#ownTimeout, 'get');
    return pending;
  }

  /** readDone reports that a `read` was answered. */
  readDone(): void {
    if (this.#watch) this.#watch.settled++;
    this.#succeeded();
  }

  /** readFailed reports that a `read` was rejected with `error`. */
  readFailed(error: unknown): void {
    if (this.#watch) this.#watch.settled++;
    if (isRejected(error)) {
      // e.g. WRONGTYPE: the connection is fine, the key holds something else.
      this.#succeeded();
      this.#hooks.error(new RedisTierError('CACHE_REDIS_COMMAND', 'get', 'rejected', { cause: error }));
    } else this.#failed('get', error);
  }

  // Made once, not per call.
  readonly #gotReply = (data: Buffer | null): Buffer | null => {
    this.readDone();
    return data;
  };

  readonly #gotNoReply = (error: unknown): undefined => {
    this.readFailed(error);
    return undefined;
  };

  /**
   * setEntry stores `text` for `ttlMs`, an entry made at `createdAt`, and indexes it under each tag
   * set key, unless `key` holds an entry or a tombstone written after `createdAt` (SET_IF_NOT_OLDER).
   * Resolves whether it stored. Every set goes through the script, its first attempt too, not only a
   * replay from the offline queue: a first attempt that timed out is not withdrawn, and its bytes
   * still reach Redis when a stalled link or a busy server lets them through, after writes made
   * since. As a plain SET it then overwrote another instance's newer set (or brought back a key it
   * had deleted) for its whole TTL, and the replay behind it saw its own value and kept it.
   */
  async setEntry(
    client: RedisClient,
    key: string,
    createdAt: number,
    text: string,
    ttlMs: number,
    tagKeys: readonly string[],
  ): Promise<boolean> {
    const scripts = client as unknown as ScriptCommands;
    if (tagKeys.length === 0)
      return (await scripts.scaleplaneSetIfNotOlder(key, createdAt, text, ttlMs)) === 1;
    if (!(client instanceof Cluster)) {
      // The value and its index adds in one script: stored and listed together, or neither (see
      // INDEX_TAIL). Sent apart, a connection lost between them left a value no deleteByTag reached.
      const stored = await scripts.scaleplaneSetIfNotOlderIndexed(
        1 + tagKeys.length,
        key,
        ...tagKeys,
        createdAt,
        text,
        ttlMs,
      );
      if (stored !== 1) return false;
      await this.#pruneTags(client, tagKeys);
      return true;
    }
    // On a Cluster the tag sets live on other nodes than the value: one script cannot touch both. The
    // value first, its index adds after its reply (see deleteTagged), so they follow only a stored
    // value; a connection lost or a process killed between the two still leaves the value unlisted
    // until its TTL (documented in README, "Tags on Redis Cluster").
    if ((await scripts.scaleplaneSetIfNotOlder(key, createdAt, text, ttlMs)) !== 1) return false;
    await Promise.all(tagKeys.map((tagKey) => scripts.scaleplaneTagAdd(tagKey, key, ttlMs)));
    await this.#pruneTags(client, tagKeys);
    return true;
  }

  /**
   * setEntryIfUnchanged is setEntry for a loaded value: stored (and indexed) only while `key` still
   * holds what the load saw, `seen`: '' for no key, a tombstone as it is, else the SHA-1 (hex) of
   * the entry's bytes (see SET_IF_UNCHANGED). Resolves whether it stored.
   */
  async setEntryIfUnchanged(
    client: RedisClient,
    key: string,
    seen: string,
    text: string,
    ttlMs: number,
    tagKeys: readonly string[],
  ): Promise<boolean> {
    const scripts = client as unknown as ScriptCommands;
    if (tagKeys.length > 0 && !(client instanceof Cluster)) {
      // One script, as in setEntry: the value is never stored without its index entries.
      const stored = await scripts.scaleplaneSetIfUnchangedIndexed(
        1 + tagKeys.length,
        key,
        ...tagKeys,
        seen,
        text,
        ttlMs,
      );
      if (stored !== 1) return false;
      await this.#pruneTags(client, tagKeys);
      return true;
    }
    if ((await scripts.scaleplaneSetIfUnchanged(key, seen, text, ttlMs)) !== 1) return false;
    // Cluster only (see setEntry): the index adds after the value's reply.
    await Promise.all(tagKeys.map((tagKey) => scripts.scaleplaneTagAdd(tagKey, key, ttlMs)));
    await this.#pruneTags(client, tagKeys);
    return true;
  }

  /**
   * #pruneTags prunes the indexes just written to on every PRUNE_EVERY_WRITES-th tagged write (see
   * tag-prune.ts). A prune that fails is only reported: the write itself succeeded, and a later
   * prune finds what this one missed.
   */
  async #pruneTags(client: RedisClient, tagKeys: readonly string[]): Promise<void> {
    if (++this.#tagWrites % PRUNE_EVERY_WRITES !== 0) return;
    try {
      await Promise.all(tagKeys.map((tagKey) => pruneTagSample(client, cacheTagIndex(client, tagKey))));
    } catch (error) {
      this.#hooks.error(
        new RedisTierError('CACHE_REDIS_COMMAND', 'set', 'tag index prune failed', { cause: error }),
      );
    }
  }

  /**
   * deleteTagged replaces every key indexed under `tagKey` with a tombstone (`tombstone()` makes
   * each, living `tombstoneTtlMs`), as `delete` does, and removes those keys from the index. It goes
   * TAG_DELETE_CHUNK members at a time (SSCAN, SREM, tombstones), each command timed by `step`: one
   * SMEMBERS, one SREM of every member and all the tombstones used to be one write timed as a whole
   * (500 ms), which a large tag could not meet (see writeInSteps), and the SREM of every member
   * blocked Redis for all its clients. `state` is where an earlier attempt of the same deleteByTag
   * stopped (replayed from the offline queue): its carried members, whose SREM may have landed (the
   * index no longer lists them), are removed and tombstoned first, then the scan goes on from its
   * cursor. Resolves how many keys it tombstoned.
   */
  async deleteTagged(
    client: RedisClient,
    tagKey: string,
    tombstone: () => string,
    tombstoneTtlMs: number,
    state: TagDeletion,
    step: Step,
  ): Promise<number> {
    let deleted = 0;
    for (;;) {
      if (state.carried.size === 0) {
        if (state.scanned) return deleted;
        const [next, members] = await step(client.sscan(tagKey, state.cursor, 'COUNT', TAG_DELETE_CHUNK));
        for (const member of members) state.carried.add(member);
        state.cursor = next;
        state.scanned = next === '0';
        if (state.carried.size === 0) continue;
      }
      const keys = [...state.carried];
      // SREM before the tombstones, and a set adds to the index with its value or after it (setEntry): a set
      // landing between a tombstone and the SREM left its value in Redis and the SREM took it out of the
      // index, where no later deleteByTag found it. In this order such a set either precedes the
      // tombstone (replaced) or its index add follows the SREM (listed again). SREM, not DEL: members
      // added meanwhile stay indexed. One key per command so the same code works on Cluster. Members
      // carried over from a failed attempt are removed again: a second SREM of a member does nothing.
      await step(client.srem(tagKey, ...keys));
      // A tombstone, not UNLINK: a load of a member that began before this and saw no key (or another
      // delete's tombstone, which UNLINK removed early) would otherwise store what it read.
      await step(Promise.all(keys.map((key) => this.setTombstone(client, key, tombstone(), tombstoneTtlMs))));
      state.carried.clear();
      deleted += keys.length;
    }
  }

  /**
   * setTombstone puts a delete's tombstone in place of `key`. A Redis that refuses it (OOM under
   * noeviction) still takes an UNLINK: the value goes without its tombstone, and the refusal is
   * reported (not thrown: the other keys and tags of a deleteByTag go on). Before, the refused
   * tombstone left the deleted value in Redis.
   */
  setTombstone(client: RedisClient, key: string, tombstone: string, ttlMs: number): Promise<unknown> {
    return client.set(key, tombstone, 'PX', ttlMs).catch(async (error: unknown) => {
      if (!isRejected(error)) throw error;
      await client.unlink(key);
      this.#hooks.error(
        new RedisTierError('CACHE_REDIS_COMMAND', 'delete', 'tombstone refused, key unlinked', {
          cause: error,
        }),
      );
    });
  }

  /**
   * tryLock takes `lockKey` for `ttlMs`. `taken` is undefined when Redis could not answer in time;
   * `late` is then set if the request was sent: a request that timed out is not withdrawn, and its
   * SET NX may still land after the caller gave up, leaving a lock nobody would release (every other
   * instance waited `lock.wait` on it, then loaded anyway, for the lock's whole TTL). `late` settles
   * when the request does: true if it took the lock, or may have (its connection lost with it in
   * flight); the caller then releases it with releaseLate.
   */
  async tryLock(lockKey: string, token: string, ttlMs: number): Promise<LockAttempt> {
    let sent: Promise<'OK' | null> | undefined;
    const result = await this.exec('lock', (c) => {
      sent = c.set(lockKey, token, 'PX', ttlMs, 'NX');
      return sent;
    });
    if (result.ok) return { taken: result.value === 'OK' };
    if (result.reason === 'rejected' || sent === undefined) return { taken: undefined };
    return {
      taken: undefined,
      late: sent.then(
        (reply) => reply === 'OK',
        () => true,
      ),
    };
  }

  /**
   * releaseLate releases a lock a timed-out tryLock may hold. A write, not exec: with the connection
   * lost, it waits in the offline queue and goes on reconnect (the token makes it safe at any time).
   */
  releaseLate(lockKey: string, token: string): Promise<void> {
    return this.write('unlock', (c) =>
      (c as unknown as ScriptCommands).scaleplaneReleaseLock(lockKey, token),
    );
  }

  /** unlock releases `lockKey` if it still holds `token`; a lost unlock just lets the lock expire. */
  async unlock(lockKey: string, token: string): Promise<void> {
    await this.exec('unlock', (c) => (c as unknown as ScriptCommands).scaleplaneReleaseLock(lockKey, token));
  }

  /** close detaches from the client, and quits it if the tier created it. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchTimer);
    this.#queue = [];
    this.client.off('ready', this.#onReady);
    this.client.off('close', this.#onClose);
    if (!this.#owned) {
      this.client.off('error', this.#onClientError);
      return;
    }
    try {
      if (this.client.status === 'ready') await this.client.quit();
    } catch {
      // closing anyway
    }
    // Also after quit(): only disconnect() releases a Sentinel client's failover-watch connections.
    this.client.disconnect();
  }

  #enqueue(write: QueuedWrite): void {
    if (this.#closed || this.#config.offlineQueue === 0) return;
    // Commands in flight when a connection drops do not fail in the order they were sent (those
    // written after the socket died fail first, the ones awaiting replies when 'close' flushes them),
    // so each write takes its place by issue order.
    const queue = this.#queue;
    let at = queue.length;
    while (at > 0 && queue[at - 1]!.seq > write.seq) at--;
    if (queue.length >= this.#config.offlineQueue) {
      // The oldest write goes: the one in the queue, or this one if it is older still.
      const dropped = at === 0 ? write : queue.shift()!;
      this.#hooks.dropped();
      this.#hooks.error(
        new RedisTierError(
          'CACHE_OFFLINE_QUEUE_FULL',
          dropped.operation,
          'offline queue full, oldest write dropped',
        ),
      );
      if (dropped === write) return;
      at--;
    }
    queue.splice(at, 0, write);
  }

  async #flush(): Promise<void> {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#queue.length > 0 && !this.#closed) {
        const next = this.#queue[0]!;
        const result = await this.exec(
          next.operation,
          (client, step) => next.run(client, true, step),
          next.stepwise,
        );
        if (!result.ok && result.reason !== 'rejected') break;
        if (!result.ok) next.rejected?.();
        // By identity: an older write failing meanwhile may have taken the head.
        const at = this.#queue.indexOf(next);
        if (at >= 0) this.#queue.splice(at, 1);
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** admit says whether a command may go to Redis now (connected, breaker letting it through). */
  #admit(): boolean {
    if (this.#closed || this.client.status !== 'ready') return false;
    if (this.#breaker.status === 'closed') return true;
    // On the monotonic clock, not the cache's (the wall clock, which dates entries other instances
    // share): there, a step back of the system clock kept the breaker open for as long as the step,
    // and every read and load went past Redis (to the database) meanwhile.
    const allowed = breakerAllow(this.#breaker, performance.now(), this.#config.breaker);
    this.#breaker = allowed.state;
    return allowed.allowed;
  }

  #succeeded(): void {
    if (this.#up && this.#breaker.failures === 0) return;
    this.#breaker = breakerSuccess(this.#breaker).state;
    if (!this.#up) {
      this.#up = true;
      notify(this.#hooks.up);
    }
    // Also after a replay that stopped at a failure without the breaker opening.
    if (this.#queue.length > 0) void this.#flush();
  }

  #failed(operation: string, error: unknown): void {
    const step = breakerFailure(this.#breaker, performance.now(), this.#config.breaker);
    this.#breaker = step.state;
    if (error instanceof RedisTierError) this.#hooks.error(error);
    else {
      // ioredis's timeout error has no code. A command that fails while the connection is still up
      // was too slow; one that fails with the connection gone found Redis unavailable.
      const code =
        this.client.status === 'ready' && replyCode(error) === undefined
          ? 'CACHE_REDIS_TIMEOUT'
          : 'CACHE_REDIS_UNAVAILABLE';
      this.#hooks.error(new RedisTierError(code, operation, String(error), { cause: error }));
    }
    if (step.state.status !== 'closed') this.#markDown();
  }

  #markDown(): void {
    if (!this.#up) return;
    this.#up = false;
    notify(this.#hooks.down);
  }

  /** A read has waited past the command timeout: the connection is stuck; drop it and reconnect. */
  readonly #checkStall = (): void => {
    const watch = this.#watch!;
    if (this.#closed || !watch.tick()) return;
    watch.forget();
    this.#hooks.error(
      new RedisTierError(
        'CACHE_REDIS_TIMEOUT',
        'get',
        `a read waited over ${this.#config.commandTimeout} ms; reconnecting`,
      ),
    );
    // Destroy, not disconnect(): a stuck server never completes a graceful close. Every command in
    // flight then fails at once: reads fall through to the loader, writes wait in the queue.
    (this.client as Redis).stream?.destroy();
  };

  readonly #onReady = (): void => {
    if (this.#closed) return;
    this.#breaker = breakerReconnected(this.#breaker).state;
    // Probe at once so 'up' (and the replay of queued writes) does not wait for the next cache call.
    void this.exec('ping', (c) => c.ping());
  };

  readonly #onClose = (): void => {
    this.#markDown();
  };

  readonly #onClientError = (error: unknown): void => {
    if (this.#closed) return;
    this.#hooks.error(
      new RedisTierError('CACHE_REDIS_UNAVAILABLE', 'connection', String(error), { cause: error }),
    );
  };
}

/** cacheTagIndex is the cache's tag set `tagKey` for a prune: members are value keys, put back by TAG_ADD. */
export function cacheTagIndex(client: RedisClient, tagKey: string): TagIndex {
  const scripts = client as unknown as ScriptCommands;
  return {
    indexKey: tagKey,
    keyOf: (member) => member,
    // A key without expiry (-1) is not one the cache wrote; indexed again all the same.
    putBack: (member, ttlMs) =>
      ttlMs > 0 ? scripts.scaleplaneTagAdd(tagKey, member, ttlMs) : client.sadd(tagKey, member),
  };
}

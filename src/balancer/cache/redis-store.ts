import type { Redis } from 'ioredis';
import { PRUNE_EVERY_WRITES, pruneTagSample } from '../../cache/tag-prune.js';
import { createRedis } from '../../redis-secrets.js';
import {
  hostOfKey,
  KEY_SCHEMES,
  MAX_VARIANTS,
  matchesPrefix,
  matchesUrl,
  type PurgeSelector,
  primaryKey,
  type StoredResponse,
  splitHost,
} from './entry.js';
import type { HttpCacheStore, PurgeMark, VariantOf } from './store.js';

/** RedisStoreOptions configure a RedisHttpStore. */
export interface RedisStoreOptions {
  /** `redis://host:port/db`. */
  url: string;
  /** Prefix of every key this store writes. @defaultValue 'scaleplane:http:' */
  keyPrefix: string;
  /** Longest wait for one command before it counts as failed, ms. @defaultValue 1000 */
  commandTimeout?: number;
}

type Meta = Omit<StoredResponse, 'body'>;

/**
 * PURGE_CHUNK is how many keys one purge command names (SSCAN COUNT, SREM, UNLINK), as
 * src/cache's deleteByTag (TAG_DELETE_CHUNK): each command stays short for Redis and its reply small.
 */
const PURGE_CHUNK = 500;

/**
 * PURGE_LOG_LENGTH is how many recent purges the store keeps in its purge log (see purge). A put
 * whose fetch began more purges ago than that cannot tell whether one named it, and is not kept.
 */
const PURGE_LOG_LENGTH = 1000;

/**
 * LOG_PURGE counts a purge and records its selector under its number, in one step so that a count
 * is never seen without its record (see purge).
 *   KEYS[1] the purge count, KEYS[2] the purge log (a sorted set by count)
 *   ARGV[1] the selector as JSON, ARGV[2] how many records to keep
 * Returns the purge's number.
 */
const LOG_PURGE = `
local n = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], n, n .. ' ' .. ARGV[1])
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -(tonumber(ARGV[2]) + 1))
return n
`;

type LoggingRedis = Redis & {
  scaleplaneHttpLogPurge(countKey: string, logKey: string, selector: string, keep: number): Promise<number>;
};

/**
 * RedisHttpStore keeps responses in Redis so every balancer process (and worker) shares them.
 * One hash per primary key holds the Vary names (`vary`), and per variant its metadata as JSON
 * (`m:VARIANT`) and its body as bytes (`b:VARIANT`); the hash expires with its longest-lived
 * variant. A set per tag lists the keys carrying it. Commands fail fast while Redis is away (no
 * offline queue): the cache then behaves as a miss and the backend answers.
 */
export class RedisHttpStore implements HttpCacheStore {
  readonly kind = 'redis';
  readonly #redis: LoggingRedis;
  readonly #prefix: string;
  readonly #onError: (err: Error) => void;
  #taggedPuts = 0;
  #closed: Promise<void> | undefined;

  constructor(options: RedisStoreOptions, onError: (err: Error) => void = () => {}) {
    this.#prefix = options.keyPrefix;
    this.#onError = onError;
    // Its errors never carry the password (see createRedis): a refused AUTH held it in its fields.
    this.#redis = createRedis(
      options.url,
      {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 1,
        commandTimeout: options.commandTimeout ?? 1000,
        retryStrategy: (attempt) => Math.min(2000, 50 * 2 ** attempt),
      },
      (detail) => new TypeError(`url: ${detail}`),
    ) as LoggingRedis;
    this.#redis.defineCommand('scaleplaneHttpLogPurge', { numberOfKeys: 2, lua: LOG_PURGE });
    this.#redis.on('error', onError);
  }

  /** ready resolves once connected (tests and startup use it; the data path never waits on it). */
  async ready(): Promise<void> {
    if (this.#redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      this.#redis.once('ready', resolve);
      this.#redis.once('end', () => reject(new Error('redis connection ended')));
    });
  }

  async get(key: string, now: number, variantOf?: VariantOf): Promise<StoredResponse[]> {
    if (variantOf !== undefined) return this.#getVariant(key, now, variantOf);
    const fields = await this.#redis.hgetallBuffer(this.#entryKey(key));
    const out: StoredResponse[] = [];
    for (const [field, value] of Object.entries(fields)) {
      if (!field.startsWith('m:')) continue;
      const meta = this.#parseMeta(key, field, value);
      const body = meta === undefined ? undefined : fields[`b:${meta.variant}`];
      if (meta !== undefined && meta.expiresAt > now && body !== undefined) out.push({ ...meta, body });
    }
    return out;
  }

  /**
   * getVariant reads the key's Vary names, then only the metadata and body of the variant the
   * request selects: two round trips, but a key with many variants costs one body, not all.
   */
  async #getVariant(key: string, now: number, variantOf: VariantOf): Promise<StoredResponse[]> {
    const entryKey = this.#entryKey(key);
    const vary = await this.#redis.hget(entryKey, 'vary');
    if (vary === null) return [];
    const variant = variantOf(vary === '' ? [] : vary.split(','));
    const [metaRaw, body] = await this.#redis.hmgetBuffer(entryKey, `m:${variant}`, `b:${variant}`);
    if (metaRaw == null || body == null) return [];
    const meta = this.#parseMeta(key, `m:${variant}`, metaRaw);
    return meta !== undefined && meta.expiresAt > now && meta.variant === variant ? [{ ...meta, body }] : [];
  }

  /**
   * parseMeta reads one variant's metadata; undefined (a miss, reported through onError) when it is
   * not JSON of a stored response: a truncated write, another program's or version's value under
   * the prefix. Before, JSON.parse threw out of get, and each lookup of that one key counted as a
   * store failure: a few concurrent requests for it opened the breaker, and every URL went to the
   * backend for a second, again and again while the key was asked for.
   */
  #parseMeta(key: string, field: string, raw: Buffer): Meta | undefined {
    let meta: unknown;
    try {
      meta = JSON.parse(raw.toString('utf8'));
    } catch {
      meta = undefined;
    }
    const shaped =
      typeof meta === 'object' &&
      meta !== null &&
      typeof (meta as Meta).expiresAt === 'number' &&
      typeof (meta as Meta).variant === 'string' &&
      typeof (meta as Meta).status === 'number' &&
      Array.isArray((meta as Meta).headers);
    if (shaped) return meta as Meta;
    this.#onError(
      new Error(`http cache entry ${JSON.stringify(key)} field ${field}: corrupt metadata, read as a miss`),
    );
    return undefined;
  }

  /** mark reads the purge count (see purge). */
  async mark(): Promise<PurgeMark> {
    return Number((await this.#redis.get(this.#countKey())) ?? 0);
  }

  /**
   * put stores a variant. With `since` (the mark read before its fetch), a response a purge made
   * since names is not kept: that purge may have come from another process, which neither saw
   * this fetch nor waited for this put, and the answer may predate the change it was for. The
   * purge count is read with the first round trip (named already: nothing is written) and again
   * in the write's MULTI (named by a purge that came in between: the variant written is removed
   * again; that purge counted itself before it removed anything, so a put it missed sees it).
   */
  async put(key: string, response: StoredResponse, now: number, since?: PurgeMark): Promise<void> {
    const entryKey = this.#entryKey(key);
    const vary = response.vary.join(',');
    const [[, storedVary], [, fieldCount], [, countRaw]] = (await this.#redis
      .multi()
      .hget(entryKey, 'vary')
      .hlen(entryKey)
      .get(this.#countKey())
      .exec()) as [[Error | null, string | null], [Error | null, number], [Error | null, string | null]];
    let checked = since;
    if (since !== undefined) {
      const count = Number(countRaw ?? 0);
      if (await this.#purgedSince(key, response.tags, since, count)) return;
      checked = count;
    }
    const { body, ...meta } = response;
    const ttl = Math.max(1, Math.ceil(response.expiresAt - now));
    const multi = this.#redis.multi();
    if (storedVary !== null && storedVary !== vary) multi.del(entryKey);
    else if ((fieldCount - 1) / 2 >= MAX_VARIANTS) {
      // Full: make room by dropping other variants (Redis keeps no insertion order to pick the oldest).
      const others = (await this.#redis.hkeys(entryKey)).filter(
        (field) => field.startsWith('m:') && field !== `m:${response.variant}`,
      );
      for (const field of others.slice(0, others.length - (MAX_VARIANTS - 1)))
        multi.hdel(entryKey, field, `b:${field.slice(2)}`);
    }
    multi.hset(
      entryKey,
      'vary',
      vary,
      `m:${response.variant}`,
      JSON.stringify(meta),
      `b:${response.variant}`,
      body,
    );
    // NX for a fresh key, GT so a short-lived variant never cuts a longer-lived one's time.
    multi.pexpire(entryKey, ttl, 'NX').pexpire(entryKey, ttl, 'GT');
    for (const tag of response.tags) {
      const tagKey = this.#tagKey(tag);
      multi.sadd(tagKey, key).pexpire(tagKey, ttl, 'NX').pexpire(tagKey, ttl, 'GT');
    }
    // Keys with a port are rare: listing them per host lets a URL purge of the host find them
    // without a SCAN of the whole keyspace.
    const keyHost = hostOfKey(key);
    const { name, port } = splitHost(keyHost);
    if (port !== undefined) {
      const portsKey = this.#portsKey(name);
      multi.sadd(portsKey, keyHost).pexpire(portsKey, ttl, 'NX').pexpire(portsKey, ttl, 'GT');
    }
    if (checked !== undefined) multi.get(this.#countKey());
    const replies = (await multi.exec()) ?? [];
    if (checked !== undefined) {
      const count = Number((replies.at(-1)?.[1] as string | null | undefined) ?? 0);
      if (await this.#purgedSince(key, response.tags, checked, count))
        await this.#redis.hdel(entryKey, `m:${response.variant}`, `b:${response.variant}`);
    }
    if (response.tags.length > 0 && ++this.#taggedPuts % PRUNE_EVERY_WRITES === 0)
      await this.#pruneTags(response.tags);
  }

  /**
   * pruneTags drops from each tag's set keys whose entries expired or were evicted (see
   * cache/tag-prune.ts): a tag on every search page grew a member per URL ever stored. A failed
   * prune is only reported: the put succeeded, and a later prune finds what this one missed.
   */
  async #pruneTags(tags: readonly string[]): Promise<void> {
    try {
      await Promise.all(
        tags.map((tag) => {
          const tagKey = this.#tagKey(tag);
          return pruneTagSample(this.#redis, {
            indexKey: tagKey,
            keyOf: (key) => this.#entryKey(key),
            putBack: (key, ttlMs) => {
              const multi = this.#redis.multi().sadd(tagKey, key);
              if (ttlMs > 0) multi.pexpire(tagKey, ttlMs, 'NX').pexpire(tagKey, ttlMs, 'GT');
              return multi.exec();
            },
          });
        }),
      );
    } catch (err) {
      this.#onError(err as Error);
    }
  }

  async remove(key: string, variant: string): Promise<boolean> {
    // The hash keeps its `vary` field and other variants; one left with no variant is a miss and
    // expires with its TTL (deleting it here could race a put of another variant).
    return (await this.#redis.hdel(this.#entryKey(key), `m:${variant}`, `b:${variant}`)) > 0;
  }

  /**
   * purgedSince says whether a purge numbered after `from`, up to `to`, names `key` (by URL, prefix
   * or one of `tags`). Records missing from the log (more purges than it keeps, or a count that
   * went back: Redis lost it) count as naming it: the put is then not kept, a refill at worst.
   */
  async #purgedSince(key: string, tags: readonly string[], from: number, to: number): Promise<boolean> {
    if (to === from) return false;
    if (to < from) return true;
    const records = await this.#redis.zrangebyscore(this.#logKey(), `(${from}`, to);
    if (records.length < to - from) return true;
    for (const record of records) {
      let selector: PurgeSelector;
      try {
        selector = JSON.parse(record.slice(record.indexOf(' ') + 1)) as PurgeSelector;
      } catch {
        return true;
      }
      if (
        selector.urls.some((target) => matchesUrl(key, target)) ||
        selector.prefixes.some((target) => matchesPrefix(key, target)) ||
        selector.tags.some((tag) => tags.includes(tag))
      )
        return true;
    }
    return false;
  }

  /**
   * purge removes what the selector names. It first counts itself and records its selector in the
   * purge log (LOG_PURGE), then removes: a put from any process whose fetch began before the purge
   * either lands before the removal (removed) or reads the new count (and does not keep its answer).
   */
  async purge(selector: PurgeSelector): Promise<number> {
    await this.#redis.scaleplaneHttpLogPurge(
      this.#countKey(),
      this.#logKey(),
      JSON.stringify({ urls: selector.urls, prefixes: selector.prefixes, tags: selector.tags }),
      PURGE_LOG_LENGTH,
    );
    // Keys already removed by this purge: a key under two purged tags (or a tag and a URL) is
    // removed and counted once.
    const doomed = new Set<string>();
    let removed = 0;
    for (const tag of selector.tags) removed += await this.#purgeTag(tag, doomed);
    const named = new Set<string>();
    for (const target of selector.urls) {
      if (target.host !== undefined) {
        const ported =
          target.port !== undefined
            ? [`${target.host}:${target.port}`]
            : await this.#redis.smembers(this.#portsKey(target.host));
        // A URL names no scheme that matters here: the copy for each is the same resource.
        for (const scheme of KEY_SCHEMES)
          for (const keyHost of [target.host, ...ported]) named.add(primaryKey(keyHost, target.path, scheme));
      } else
        for (const key of await this.#scan(`${globEscape(target.path)} *`))
          if (matchesUrl(key, target)) named.add(key);
    }
    for (const target of selector.prefixes) {
      for (const key of await this.#scan(`${globEscape(target.path)}*`))
        if (matchesPrefix(key, target)) named.add(key);
    }
    const keys = [...named].filter((key) => !doomed.has(key)).map((key) => this.#entryKey(key));
    for (let i = 0; i < keys.length; i += PURGE_CHUNK)
      removed += await this.#redis.unlink(...keys.slice(i, i + PURGE_CHUNK));
    return removed;
  }

  /**
   * purgeTag removes every key the tag's set lists, PURGE_CHUNK members at a time: SSCAN a chunk,
   * then one MULTI that takes the chunk out of the set and UNLINKs its entries. One SMEMBERS of the
   * whole set (as before) made Redis build, and this client wait for, a reply of every key: for a
   * tag of 100,000 keys long enough to hold every other client of Redis and to pass the command
   * timeout, and the purge failed with nothing removed. The set was then DELeted whole, which also
   * dropped keys stored under the tag while the purge ran: a later purge of the tag no longer found
   * them. Now each command is bounded, and only the members this purge removed leave the set. SREM
   * and UNLINK in one MULTI: a put (itself one MULTI of the entry and its SADD) lands before both or
   * after both, never between, so no entry is left out of its tag's set; a chunk that fails is
   * applied whole or not at all, and the next purge finds what it left. Keys in `doomed` were
   * removed earlier in this purge; the chunk's keys are added to it.
   */
  async #purgeTag(tag: string, doomed: Set<string>): Promise<number> {
    const tagKey = this.#tagKey(tag);
    let removed = 0;
    let cursor = '0';
    do {
      const [next, members] = await this.#redis.sscan(tagKey, cursor, 'COUNT', PURGE_CHUNK);
      cursor = next;
      if (members.length === 0) continue;
      const fresh = members.filter((key) => !doomed.has(key));
      for (const key of fresh) doomed.add(key);
      const multi = this.#redis.multi().srem(tagKey, ...members);
      if (fresh.length > 0) multi.unlink(...fresh.map((key) => this.#entryKey(key)));
      const replies = (await multi.exec()) ?? [];
      for (const [err] of replies) if (err) throw err;
      if (fresh.length > 0) removed += replies[1]![1] as number;
    } while (cursor !== '0');
    return removed;
  }

  usage(): undefined {
    return undefined;
  }

  close(): Promise<void> {
    this.#closed ??= this.#redis.quit().then(
      () => undefined,
      () => this.#redis.disconnect(),
    );
    return this.#closed;
  }

  async #scan(pattern: string): Promise<string[]> {
    const keys: string[] = [];
    const strip = this.#entryKey('').length;
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.scan(
        cursor,
        'MATCH',
        globEscape(this.#entryKey('')) + pattern,
        'COUNT',
        1000,
      );
      cursor = next;
      for (const key of batch) keys.push(key.slice(strip));
    } while (cursor !== '0');
    return keys;
  }

  #entryKey(key: string): string {
    return `${this.#prefix}e:${key}`;
  }

  #tagKey(tag: string): string {
    return `${this.#prefix}t:${tag}`;
  }

  /** countKey holds how many purges this store has made (see purge). */
  #countKey(): string {
    return `${this.#prefix}g`;
  }

  /** logKey is the purge log: the last PURGE_LOG_LENGTH purges' selectors by number. */
  #logKey(): string {
    return `${this.#prefix}g:log`;
  }

  /** portsKey is the set of `host:port` forms that keys of this host name were stored under. */
  #portsKey(name: string): string {
    return `${this.#prefix}p:${name}`;
  }
}

/** globEscape makes text match itself literally in a Redis MATCH pattern. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

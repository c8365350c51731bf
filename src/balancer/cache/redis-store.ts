import { Redis } from 'ioredis';
import { PRUNE_EVERY_WRITES, pruneTagSample } from '../../cache/tag-prune.js';
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
import type { HttpCacheStore, VariantOf } from './store.js';

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
 * RedisHttpStore keeps responses in Redis so every balancer process (and worker) shares them.
 * One hash per primary key holds the Vary names (`vary`), and per variant its metadata as JSON
 * (`m:VARIANT`) and its body as bytes (`b:VARIANT`); the hash expires with its longest-lived
 * variant. A set per tag lists the keys carrying it. Commands fail fast while Redis is away (no
 * offline queue): the cache then behaves as a miss and the backend answers.
 */
export class RedisHttpStore implements HttpCacheStore {
  readonly kind = 'redis';
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #onError: (err: Error) => void;
  #taggedPuts = 0;
  #closed: Promise<void> | undefined;

  constructor(options: RedisStoreOptions, onError: (err: Error) => void = () => {}) {
    this.#prefix = options.keyPrefix;
    this.#onError = onError;
    this.#redis = new Redis(options.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: options.commandTimeout ?? 1000,
      retryStrategy: (attempt) => Math.min(2000, 50 * 2 ** attempt),
    });
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

  async put(key: string, response: StoredResponse, now: number): Promise<void> {
    const entryKey = this.#entryKey(key);
    const vary = response.vary.join(',');
    const [[, storedVary], [, fieldCount]] = (await this.#redis
      .multi()
      .hget(entryKey, 'vary')
      .hlen(entryKey)
      .exec()) as [[Error | null, string | null], [Error | null, number]];
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
    await multi.exec();
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

  async purge(selector: PurgeSelector): Promise<number> {
    const doomed = new Set<string>();
    for (const tag of selector.tags) {
      for (const key of await this.#redis.smembers(this.#tagKey(tag))) doomed.add(key);
    }
    for (const target of selector.urls) {
      if (target.host !== undefined) {
        const ported =
          target.port !== undefined
            ? [`${target.host}:${target.port}`]
            : await this.#redis.smembers(this.#portsKey(target.host));
        // A URL names no scheme that matters here: the copy for each is the same resource.
        for (const scheme of KEY_SCHEMES)
          for (const keyHost of [target.host, ...ported])
            doomed.add(primaryKey(keyHost, target.path, scheme));
      } else
        for (const key of await this.#scan(`${globEscape(target.path)} *`))
          if (matchesUrl(key, target)) doomed.add(key);
    }
    for (const target of selector.prefixes) {
      for (const key of await this.#scan(`${globEscape(target.path)}*`))
        if (matchesPrefix(key, target)) doomed.add(key);
    }
    let removed = 0;
    const keys = [...doomed].map((key) => this.#entryKey(key));
    for (let i = 0; i < keys.length; i += 500) removed += await this.#redis.del(...keys.slice(i, i + 500));
    if (selector.tags.length > 0) await this.#redis.del(...selector.tags.map((tag) => this.#tagKey(tag)));
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

  /** portsKey is the set of `host:port` forms that keys of this host name were stored under. */
  #portsKey(name: string): string {
    return `${this.#prefix}p:${name}`;
  }
}

/** globEscape makes text match itself literally in a Redis MATCH pattern. */
function globEscape(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

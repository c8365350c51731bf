/**
 * RedisSource is the length of a Redis list (LLEN) or stream (XLEN) as a group total: target =
 * items per worker. With a consumer `group`, a stream's backlog is that group's lag plus pending,
 * plus, for a `scaleplane/queue` stream (`…:stream`), the due jobs of its `…:delayed` set.
 */
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { type ClosedReason, closedReason } from '../redis-closed.js';
import { guardRedisSecrets, redactRedisUrl, redisSecrets } from '../redis-secrets.js';
import { type MetricSource, MetricSourceError } from './source.js';

/** How many undelivered entries a read counts one by one when Redis tells no lag (see #undelivered). */
const UNDELIVERED_SCAN = 1000;

/** Endpoint is a sentinel or cluster node. */
export interface RedisEndpoint {
  host: string;
  port: number;
}

/** RedisSourceOptions names the server and the key. */
export interface RedisSourceOptions {
  /** The server; with `sentinel` or `cluster`, only its credentials, database and TLS (`rediss:`). */
  url: string;
  /** Ask these sentinels where the master `name` is (and follow its failovers). */
  sentinel?: { name: string; sentinels: readonly RedisEndpoint[] };
  /** A Redis Cluster, reached through these seed nodes: each command goes to its key's node. */
  cluster?: readonly RedisEndpoint[];
  key: string;
  /** Stream consumer group: count its lag + pending instead of the stream's length. */
  group?: string;
  /** How long one read may take before it fails and its connection is dropped, ms. @defaultValue 5000 */
  timeout?: number;
}

/** RedisSource reads one key's backlog. */
export class RedisSource implements MetricSource {
  readonly name = 'redis';
  readonly kind = 'total' as const;
  readonly #options: RedisSourceOptions;
  readonly #timeout: number;
  #redis: Redis | Cluster;
  /** Per client: why its connection closed (a refused AUTH, a TLS error), see closedReason. */
  readonly #closedReason = new WeakMap<Redis | Cluster, ClosedReason>();
  #closed = false;
  constructor(options: RedisSourceOptions) {
    this.#options = options;
    this.#timeout = options.timeout ?? 5000;
    if (!(this.#timeout > 0)) throw new RangeError(`timeout must be positive, got ${this.#timeout}`);
    try {
      this.#redis = this.#client();
    } catch (err) {
      throw urlError(err, options.url);
    }
  }

  #client(): Redis | Cluster {
    const { url, sentinel, cluster } = this.#options;
    const settings: RedisOptions = {
      lazyConnect: true,
      // Fail a read fast rather than queueing it while the server is away: the poller retries.
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectTimeout: 2000,
    };
    let redis: Redis | Cluster;
    if (cluster !== undefined) {
      // The URL's user, password and TLS for every node; its host is the seeds' to give.
      const { host: _host, port: _port, ...node } = urlSettings(url);
      redis = new Cluster([...cluster], {
        lazyConnect: true,
        enableOfflineQueue: false,
        redisOptions: { ...node, connectTimeout: 2000, maxRetriesPerRequest: 0 },
      });
    } else if (sentinel !== undefined) {
      const { host: _host, port: _port, ...master } = urlSettings(url);
      redis = new Redis({
        ...master,
        ...settings,
        sentinels: [...sentinel.sentinels],
        name: sentinel.name,
        // Move to the new master when the sentinels announce it (+switch-master), not only once
        // the old one drops the connection: a master demoted alive keeps answering as a replica.
        failoverDetector: true,
      });
    } else {
      redis = new Redis(url, settings);
    }
    this.#closedReason.set(redis, closedReason(redis));
    // A refused AUTH's error holds the password in its `command.args`, and a failed read keeps that
    // error as its cause, which a log line prints whole.
    return guardRedisSecrets(redis, redisSecrets(url));
  }

  /**
   * read is bounded by `timeout`: a server that accepts the connection and then says nothing
   * (SIGSTOP, a proxy whose Redis is gone) left the connect's ready check or a command waiting
   * forever, and the poller, which starts no other read while one hangs, kept the metric missing
   * after the server was back. Past the timeout the client is replaced: ioredis has no way back
   * from a client disconnected while it was reconnecting (its status stays `reconnecting`).
   */
  async read(): Promise<number[]> {
    const { key } = this.#options;
    if (this.#closed) throw new MetricSourceError('SOURCE_FAILED', 'closed');
    const redis = this.#redis;
    const reading = this.#readKey(redis);
    reading.catch(() => {}); // settles after a timeout too: nobody waits for it then
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.#timeout);
    });
    try {
      const outcome = await Promise.race([reading, timedOut]);
      if (outcome !== 'timeout') return outcome;
      if (this.#redis === redis && !this.#closed) this.#redis = this.#client();
      redis.disconnect();
      throw new MetricSourceError('SOURCE_FAILED', `redis ${key}: no answer within ${this.#timeout} ms`);
    } finally {
      clearTimeout(timer);
    }
  }

  async #readKey(redis: Redis | Cluster): Promise<number[]> {
    const { key, group } = this.#options;
    try {
      if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
      const type = await redis.type(key);
      if (type === 'none') return [0];
      if (type === 'list') return [await redis.llen(key)];
      if (type !== 'stream') throw new Error(`key ${key} is a ${type}, not a list or stream`);
      if (group === undefined) return [await redis.xlen(key)];
      const groups = (await redis.xinfo('GROUPS', key)) as unknown[][];
      for (const fields of groups) {
        const info = new Map<string, unknown>();
        for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]);
        if (info.get('name') !== group) continue;
        const lag = info.get('lag');
        // Redis counts the lag as entries added less entries read, so entries a MAXLEN trim took
        // before the group read them stay in it: 10 entries, 2 read, trimmed to 5 read a lag of 8
        // (Redis 7.0.15), and a producer trimming at 10 000 behind a slow group read a lag that only
        // grew, the group scaled to max_instances for jobs long gone. No more are undelivered than
        // the stream holds.
        const backlog =
          lag === null || lag === undefined
            ? await this.#undelivered(redis, key, String(info.get('last-delivered-id')))
            : Math.min(Number(lag), await redis.xlen(key));
        return [backlog + Number(info.get('pending') ?? 0) + (await this.#dueDelayed(redis, key))];
      }
      throw new Error(`stream ${key} has no consumer group ${group}`);
    } catch (err) {
      // A read on a connection that closed says only "Connection is closed."; name why it closed.
      const cause = this.#closedReason.get(redis)?.(err) ?? err;
      throw new MetricSourceError(
        'SOURCE_FAILED',
        `redis ${key}: ${cause instanceof Error ? cause.message : cause}`,
        { cause },
      );
    }
  }

  /**
   * #undelivered counts the entries after the group's last-delivered-id, for when Redis cannot tell
   * the group's lag: Redis < 7 has none, and 7 answers null once an entry the group has not read
   * was deleted (XDEL, a MAXLEN trim). The stream's length, read here before, also counts the
   * entries already delivered: the pending ones, added again as pending, and the acknowledged ones
   * a stream keeps until trimmed; 10 entries, 4 delivered of which 2 acknowledged and 1 undelivered
   * deleted read 11 instead of 7 (and a stream keeping its history read all of it). Counted up to
   * UNDELIVERED_SCAN entries; past that the length, never below the count, stands in for it.
   */
  async #undelivered(redis: Redis | Cluster, key: string, lastDelivered: string): Promise<number> {
    // Inclusive of lastDelivered (the exclusive `(id` form needs Redis 6.2), which is skipped: one
    // more is asked for it, and one more again to tell a full scan from a cut one.
    const entries = await redis.xrange(key, lastDelivered, '+', 'COUNT', UNDELIVERED_SCAN + 2);
    if (entries.length === UNDELIVERED_SCAN + 2) return redis.xlen(key);
    // Before, a scan cut at UNDELIVERED_SCAN + 1 entries that began with lastDelivered (still in
    // the stream, pending) counted 1000 and took that for all: 1499 undelivered read 1000.
    return entries.filter(([id]) => id !== lastDelivered).length;
  }

  /**
   * #dueDelayed counts the jobs of a `scaleplane/queue` Redis queue (`<prefix>:{<queue>}:stream`)
   * that are due in its `:delayed` sorted set (delayed publishes, retries waiting out their backoff).
   * Only a running worker moves them into the stream, so with none running (a group scaled to zero)
   * they never showed in the backlog, no worker was started, and they never ran. Due on Redis's
   * clock, as the queue schedules them; not-yet-due ones wake nobody. A `:delayed` key of another
   * type (another application's key of that name) fails the reading, naming the key and its type:
   * before, it read as 0 due jobs, as a failed command did before 3c5564d, a depth that could scale
   * the group to zero while the misconfiguration went unseen.
   */
  async #dueDelayed(redis: Redis | Cluster, key: string): Promise<number> {
    if (!key.endsWith(':stream')) return 0;
    const delayed = `${key.slice(0, -':stream'.length)}:delayed`;
    const type = await redis.type(delayed);
    if (type === 'none') return 0;
    if (type !== 'zset') throw new Error(`delayed-job key ${delayed} is a ${type}, not a sorted set`);
    const [seconds, micros] = await redis.time();
    return redis.zcount(delayed, '-inf', Number(seconds) * 1000 + Math.floor(Number(micros) / 1000));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#redis.disconnect();
  }
}

/**
 * urlError is the Error for a URL the client could not read, quoting it without its password:
 * before, a URL error carried the URL as written in its `input`, printed with it on the log line
 * of a refused reload, password and all. Any other error is returned as it is.
 */
function urlError(err: unknown, url: string): unknown {
  const shown = redactRedisUrl(url);
  if (err instanceof URIError) return new Error(`url: bad percent-encoding in the credentials of ${shown}`);
  if ((err as { code?: unknown })?.code === 'ERR_INVALID_URL') return new Error(`url: not a URL: ${shown}`);
  return err;
}

/**
 * urlSettings reads a `redis://` / `rediss://` URL into ioredis options (user, password, database,
 * TLS), as ioredis reads the URL it is given: for a sentinel's master or a cluster's nodes, whose
 * addresses come from elsewhere.
 */
function urlSettings(url: string): RedisOptions {
  const parsed = new URL(url);
  const database = parsed.pathname.slice(1);
  return {
    host: parsed.hostname,
    ...(parsed.port !== '' && { port: Number(parsed.port) }),
    ...(parsed.username !== '' && { username: decodeURIComponent(parsed.username) }),
    ...(parsed.password !== '' && { password: decodeURIComponent(parsed.password) }),
    ...(/^\d+$/.test(database) && { db: Number(database) }),
    ...(parsed.protocol === 'rediss:' && { tls: {} }),
  };
}

/**
 * Cross-instance invalidation over Redis pub/sub. Each cache publishes the keys and tags it
 * deleted; every other instance evicts them from its memory tier. The same channel carries "filled"
 * notices so processes waiting on another's lock wake as soon as the value is in Redis.
 */

import type { Socket } from 'node:net';
import { Cluster, type Redis } from 'ioredis';
import { clientSecrets, guardRedisSecrets } from '../redis-secrets.js';
import { CacheError } from './errors.js';
import type { RedisClient } from './redis-tier.js';

/** BusMessage is one notice on the channel. Keys and tags are full Redis-side names. */
export interface BusMessage {
  /** Sender's instance id; a cache ignores its own messages. */
  i: string;
  /** Keys to evict. */
  k?: string[];
  /** Tags to evict. */
  t?: string[];
  /** A key just filled under the lock. */
  f?: string;
}

/** BusHandlers receive what arrives on the channel. */
export interface BusHandlers {
  message(message: BusMessage): void;
  /** The first subscription is in place: notices reach this instance from now on. */
  subscribed(): void;
  /**
   * The subscriber connection dropped: notices published from now until `resubscribed` are lost to
   * this instance. Once per loss, however many reconnects fail meanwhile.
   */
  lost(): void;
  /** The subscription came back after a disconnect: invalidations may have been missed. */
  resubscribed(): void;
  error(error: CacheError): void;
}

/** InvalidationBus is the subscriber side; publishing goes through the Redis tier's queue. */
export class InvalidationBus {
  readonly #subscriber: RedisClient;
  readonly #channel: string;
  readonly #instanceId: string;
  readonly #handlers: BusHandlers;
  #subscribed: Promise<void> | undefined;
  #lost = false;
  #closed = false;
  /** Connections of a Cluster's subscriber already watched (see watchClusterSubscriber). */
  readonly #watched = new WeakSet<Redis>();
  readonly #heartbeat: NodeJS.Timeout | undefined;
  /** The socket a heartbeat PING went out on and is not answered yet (see #beat). */
  #pinged: Socket | undefined;

  /**
   * `heartbeatMs` is how often the subscriber's connection is PINGed (0: never); see `#beat`.
   */
  constructor(
    client: RedisClient,
    channel: string,
    instanceId: string,
    heartbeatMs: number,
    handlers: BusHandlers,
  ) {
    // A subscribed connection can run no other commands, so the bus has its own.
    // It queues while connecting (the cache's own client does not), so subscribing early is safe.
    // Guarded even when `client` is the user's own (whose errors are theirs): this connection is the
    // cache's, and its refused AUTH, which holds the password, is reported only by the cache.
    this.#subscriber = guardRedisSecrets(
      client instanceof Cluster
        ? client.duplicate([], { enableOfflineQueue: true })
        : // …and keeps its SUBSCRIBE through failed connects (the cache's client fails commands at once).
          // The bus resubscribes itself on reconnect: ioredis's autoResubscribe sends SUBSCRIBE with
          // no handler, so a connection lost again before the reply (a failover, a flapping link)
          // rejected it as an unhandled "Connection is closed." — which ends a Node process.
          (client as Redis).duplicate({
            enableOfflineQueue: true,
            maxRetriesPerRequest: null,
            autoResubscribe: false,
          }),
      clientSecrets(client),
    );
    this.#channel = channel;
    this.#instanceId = instanceId;
    this.#handlers = handlers;
    this.#subscriber.on('message', this.#onMessage);
    this.#subscriber.on('error', this.#onError);
    this.#subscriber.on('close', this.#onClose);
    this.#subscriber.on('ready', this.#onReady);
    if (heartbeatMs > 0) this.#heartbeat = setInterval(this.#beat, heartbeatMs).unref();
    this.#subscribed = this.#subscriber.subscribe(channel).then(
      () => {
        if (this.#closed) return;
        this.#handlers.subscribed();
        if (this.#subscriber instanceof Cluster) this.#watchClusterSubscriber(this.#subscriber);
      },
      (error: unknown) => {
        this.#handlers.error(new CacheError('CACHE_BUS', 'subscribe failed', { cause: error }));
      },
    );
  }

  /** ready resolves once the first subscription is in place (or failed, which was reported). */
  ready(): Promise<void> {
    return this.#subscribed ?? Promise.resolve();
  }

  /** encode renders a notice from this instance. */
  encode(message: Omit<BusMessage, 'i'>): string {
    return JSON.stringify({ i: this.#instanceId, ...message });
  }

  /** close unsubscribes and drops the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#heartbeat);
    this.#subscriber.off('message', this.#onMessage);
    try {
      if (this.#subscriber.status === 'ready') await this.#subscriber.quit();
    } catch {
      // closing anyway
    }
    // Also after quit(): only disconnect() releases a Sentinel client's failover-watch connections.
    this.#subscriber.disconnect();
  }

  readonly #onMessage = (channel: string, text: string): void => {
    if (channel !== this.#channel) return;
    let message: BusMessage;
    try {
      message = JSON.parse(text) as BusMessage;
    } catch (error) {
      this.#handlers.error(new CacheError('CACHE_BUS', 'unreadable message', { cause: error }));
      return;
    }
    if (message.i === this.#instanceId) return;
    this.#handlers.message(message);
  };

  readonly #onClose = (): void => {
    if (this.#closed || this.#lost) return;
    this.#lost = true;
    this.#handlers.lost();
  };

  readonly #onReady = (): void => {
    if (!this.#lost || this.#closed) return;
    this.#lost = false;
    if (this.#subscriber instanceof Cluster) {
      // The cluster client resubscribes by itself; what we missed meanwhile is what matters.
      this.#handlers.resubscribed();
      this.#watchClusterSubscriber(this.#subscriber);
      return;
    }
    // Subscribed again, what was published meanwhile is lost to us: the handler drops it.
    this.#subscriber.subscribe(this.#channel).then(
      () => {
        if (!this.#closed) this.#handlers.resubscribed();
      },
      (error: unknown) => {
        // Lost again before the reply: the next ready subscribes again.
        this.#lost = true;
        if (!this.#closed)
          this.#handlers.error(new CacheError('CACHE_BUS', 'resubscribe failed', { cause: error }));
      },
    );
  };

  /**
   * watchClusterSubscriber follows the connection a Cluster client subscribes on. When it drops,
   * ioredis picks another node and subscribes again by itself, and the Cluster emits nothing: the
   * notices published meanwhile were lost without a word (B served its memory's v1 after A's set of
   * v2 for the whole TTL, busUp true throughout). Its loss is `lost`, and once our own SUBSCRIBE on
   * the new connection is answered (after ioredis's, on the same connection), `resubscribed`.
   * ioredis 6 keeps that connection in a private field; without it, nothing is watched, as before.
   */
  #watchClusterSubscriber(cluster: Cluster): void {
    const inner = (cluster as unknown as { subscriber?: { getInstance?(): Redis | null } }).subscriber;
    if (typeof inner?.getInstance !== 'function') return;
    const watch = (instance: Redis | null): void => {
      if (instance === null || this.#closed || this.#watched.has(instance)) return;
      this.#watched.add(instance);
      instance.once('close', () => {
        if (this.#closed || this.#lost) return;
        this.#lost = true;
        this.#handlers.lost();
      });
      // ioredis has chosen the next connection by now (its listener came first).
      instance.once('end', () => {
        if (this.#closed) return;
        const next = inner.getInstance!();
        if (next === instance) return;
        watch(next);
        next?.subscribe(this.#channel).then(
          () => {
            if (this.#closed || !this.#lost || inner.getInstance!() !== next) return;
            this.#lost = false;
            this.#handlers.resubscribed();
          },
          () => {
            // That connection failed too: its 'end' moves on to the next one.
          },
        );
      });
    };
    watch(inner.getInstance());
  }

  /**
   * beat PINGs the subscribed connection; one whose previous PING is still unanswered is dead
   * without having closed (nothing else would tell: a subscriber only listens, and TCP keepalive
   * takes many minutes), so it is destroyed. Its close is then a loss like any other: 'lost',
   * reconnect, resubscribe, 'resubscribed' (the cache empties its memory tier). Before, such a link
   * left busUp true and the memory tier serving values other instances had changed, for their TTL.
   */
  readonly #beat = (): void => {
    if (this.#closed || this.#lost) return;
    const connection = this.#connection();
    const stream = connection?.stream;
    if (connection === undefined || stream === undefined || connection.status !== 'ready') return;
    // By socket, not client: a standalone client is one object across its reconnects, and a PING
    // sent on an earlier socket may never settle.
    if (this.#pinged === stream) {
      // Unanswered, or answered while this process was busy (a long task since the last beat) with
      // the reply still unread: the poll phase of this loop turn reads it. Judged after that turn.
      setImmediate(() => {
        if (this.#pinged !== stream || this.#closed || this.#lost) return;
        this.#pinged = undefined;
        this.#handlers.error(
          new CacheError('CACHE_BUS', 'subscriber connection did not answer a PING; reconnecting'),
        );
        stream.destroy();
      });
      return;
    }
    this.#pinged = stream;
    const answered = () => {
      if (this.#pinged === stream) this.#pinged = undefined;
    };
    // Rejected when the connection closes first: that close is handled as a loss.
    connection.ping().then(answered, answered);
  };

  /** connection is the connection the subscription lives on (a Cluster's: its private subscriber's). */
  #connection(): Redis | undefined {
    if (!(this.#subscriber instanceof Cluster)) return this.#subscriber;
    const inner = (this.#subscriber as unknown as { subscriber?: { getInstance?(): Redis | null } })
      .subscriber;
    return typeof inner?.getInstance === 'function' ? (inner.getInstance() ?? undefined) : undefined;
  }

  readonly #onError = (error: unknown): void => {
    if (this.#closed) return;
    this.#handlers.error(new CacheError('CACHE_BUS', String(error), { cause: error }));
  };
}

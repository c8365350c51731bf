/**
 * RabbitMqSource is one queue as a group total, in one of two modes (KEDA's rabbitmq scaler's
 * QueueLength and MessageRate):
 * - `length` (default): the queue's depth; target = messages per worker. Over AMQP (`checkQueue`,
 *   one connection per source, reopened after it breaks) that is its ready messages only: AMQP
 *   tells no more. With `managementUrl` it is read from the management API instead, as KEDA's
 *   QueueLength over HTTP: `messages`, ready + unacknowledged, so the jobs workers hold count.
 * - `rate`: messages/s published into the queue, from the management plugin's HTTP API
 *   (`GET /api/queues/{vhost}/{queue}` → `message_stats.publish_details.rate`); target =
 *   messages/s per worker. The broker samples it (every 5 s by default), so it trails a change by
 *   up to one sample interval. A queue the broker has not sampled yet (fresh, or statistics off)
 *   has no value: a missing metric, never 0; a sampled one nothing was published to reads 0 (see
 *   publishRate).
 */
import amqp from 'amqplib';
import { type MetricSource, MetricSourceError } from './source.js';
import { redactCredentials } from './url-credentials.js';

type Connection = Awaited<ReturnType<typeof amqp.connect>>;
type Channel = Awaited<ReturnType<Connection['createChannel']>>;

/** How long close() waits for the broker's close-ok before cutting the socket, ms. */
const CLOSE_WAIT_MS = 1000;

/** The part of amqplib's ChannelModel that owns the socket (not in its types). */
interface AmqpSocketOwner {
  connection?: { stream?: { destroy(err: Error): void } };
}

/** RabbitMqMode is what is read of the queue: its depth or its publish rate. */
export type RabbitMqMode = 'length' | 'rate';

/** RabbitMqSourceOptions names the broker and the queue. */
export interface RabbitMqSourceOptions {
  /** AMQP URL (`amqp://user:pass@host:5672/vhost`): the broker, and in `rate` mode the vhost. */
  url: string;
  queue: string;
  /** @defaultValue 'length' */
  mode?: RabbitMqMode;
  /**
   * The management API's base URL (`http://user:pass@host:15672`, a path prefix allowed). `rate`
   * always reads the API (@defaultValue derived from `url` by {@link rabbitMqManagementRequest});
   * `length` reads it only when this is set, and then counts unacknowledged messages too.
   */
  managementUrl?: string;
  /** How long one read may take (a management API request; over AMQP, connecting and checkQueue), ms. @defaultValue 5000 */
  timeout?: number;
}

/** ManagementRequest is where the queue's statistics are read and as whom. */
export interface ManagementRequest {
  /** The queue's resource, without credentials (fetch refuses URLs that carry them). */
  url: string;
  username: string;
  password: string;
  /** The vhost as RabbitMQ names it (`/` for the default one). */
  vhost: string;
}

const MANAGEMENT_PORT = {
  'amqp:': { protocol: 'http:', port: 15672 },
  'amqps:': { protocol: 'https:', port: 15671 },
};

/**
 * rabbitMqManagementRequest derives the management API request for `queue` from the AMQP URL:
 * the vhost is the URL's path as amqplib reads it (none or empty → `/`, percent-decoded), encoded
 * as one path segment (`/` → `%2F`). Without `managementUrl` the API is on the AMQP host, http on
 * 15672 for `amqp:` (https on 15671 for `amqps:`, RabbitMQ's TLS listener convention).
 * Credentials come from `managementUrl` if it has any, else from the AMQP URL, else guest/guest
 * (amqplib's default). Throws an Error naming the bad URL.
 */
export function rabbitMqManagementRequest(
  amqpUrl: string,
  queue: string,
  managementUrl?: string,
): ManagementRequest {
  const amqpParts = parseUrl(amqpUrl, 'url');
  const scheme = MANAGEMENT_PORT[amqpParts.protocol as keyof typeof MANAGEMENT_PORT];
  if (!scheme) throw new Error(`url: expected amqp:// or amqps://, got ${amqpParts.protocol}//`);
  if (amqpParts.hostname === '') throw new Error('url: no host');
  const path = amqpParts.pathname.slice(1);
  const vhost = path === '' ? '/' : decode(path, 'url', 'vhost');
  let base: URL;
  let credentials = amqpParts;
  if (managementUrl === undefined) {
    base = new URL(`${scheme.protocol}//${amqpParts.hostname}:${scheme.port}/`);
  } else {
    base = parseUrl(managementUrl, 'management_url');
    if (base.protocol !== 'http:' && base.protocol !== 'https:') {
      throw new Error(`management_url: expected http:// or https://, got ${base.protocol}//`);
    }
    if (base.search !== '' || base.hash !== '')
      throw new Error('management_url: no query or fragment expected');
    if (base.username !== '' || base.password !== '') credentials = base;
  }
  // amqplib's rule: guest/guest only when the URL names neither user nor password.
  const anonymous = credentials.username === '' && credentials.password === '';
  const field = credentials === amqpParts ? 'url' : 'management_url';
  const username = anonymous ? 'guest' : decode(credentials.username, field, 'user');
  const password = anonymous ? 'guest' : decode(credentials.password, field, 'password');
  const prefix = base.pathname.endsWith('/') ? base.pathname : `${base.pathname}/`;
  const resource = `api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`;
  return { url: `${base.protocol}//${base.host}${prefix}${resource}`, username, password, vhost };
}

/**
 * decode percent-decodes `text`, the `part` of the URL in `field`. Throws an Error naming the part,
 * and quoting it only when it is no secret: before, a badly encoded password was quoted.
 */
function decode(text: string, field: string, part: 'vhost' | 'user' | 'password'): string {
  try {
    return decodeURIComponent(text);
  } catch {
    const quoted = part === 'vhost' ? ` ${JSON.stringify(text)}` : '';
    throw new Error(`${field}: bad percent-encoding in its ${part}${quoted}`);
  }
}

/** parseUrl parses `text`; throws an Error quoting it without its password (before, with it). */
function parseUrl(text: string, field: string): URL {
  try {
    return new URL(text);
  } catch {
    throw new Error(`${field}: not a URL: ${JSON.stringify(redactCredentials(text))}`);
  }
}

/** RabbitMqSource reads one queue's depth or publish rate. */
export class RabbitMqSource implements MetricSource {
  readonly name = 'rabbitmq';
  readonly kind = 'total' as const;
  readonly mode: RabbitMqMode;
  readonly #options: RabbitMqSourceOptions;
  readonly #management: ManagementRequest | undefined;
  readonly #timeout: number;
  readonly #aborted = new AbortController();
  #connection: Promise<{ connection: Connection; channel: Channel }> | undefined;
  #closed = false;
  constructor(options: RabbitMqSourceOptions) {
    this.#options = options;
    this.mode = options.mode ?? 'length';
    this.#timeout = options.timeout ?? 5000;
    if (!(this.#timeout > 0)) throw new RangeError(`timeout must be positive, got ${this.#timeout}`);
    // Thrown eagerly: a URL that cannot name the management API is a configuration error.
    this.#management =
      this.mode === 'rate' || options.managementUrl !== undefined
        ? rabbitMqManagementRequest(options.url, options.queue, options.managementUrl)
        : undefined;
  }

  #connect() {
    this.#connection ??= (async () => {
      // `timeout` bounds the TCP connect and the AMQP handshake (amqplib clears it once open).
      const connection = await amqp.connect(this.#options.url, { timeout: this.#timeout });
      const reset = () => {
        this.#connection = undefined;
      };
      connection.on('error', reset);
      connection.on('close', reset);
      const channel = await connection.createChannel();
      // A failed checkQueue (404) closes the channel: start over next time.
      channel.on('error', () => {});
      channel.on('close', () => {
        reset();
        connection.close().catch(() => {});
      });
      return { connection, channel };
    })();
    this.#connection.catch(() => {
      this.#connection = undefined;
    });
    return this.#connection;
  }

  async read(): Promise<number[]> {
    if (this.#closed) throw new MetricSourceError('SOURCE_FAILED', 'closed');
    if (this.#management && this.mode === 'rate') return [await this.#readRate(this.#management)];
    if (this.#management) return [await this.#readDepth(this.#management)];
    // Bounded: an endpoint that accepts the connection and then says nothing (a broker stopped
    // behind a proxy or load balancer, SIGSTOP) left checkQueue, or the handshake, waiting forever.
    // The poller counted the metric missing after its own timeout, but started no other read while
    // that one hung, so the metric stayed missing after the broker was back. Past the timeout the
    // connection is dropped and the next read opens a new one.
    const attempt = (async () => {
      const { channel } = await this.#connect();
      const { messageCount } = await channel.checkQueue(this.#options.queue);
      return messageCount;
    })();
    attempt.catch(() => {}); // settles after a timeout too: nobody waits for it then
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#abandon();
        reject(new Error(`no answer within ${this.#timeout} ms`));
      }, this.#timeout);
    });
    try {
      return [await Promise.race([attempt, timedOut])];
    } catch (err) {
      throw new MetricSourceError(
        'SOURCE_FAILED',
        `rabbitmq queue ${this.#options.queue}: ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
    } finally {
      clearTimeout(timer);
    }
  }

  /** #abandon drops the connection (now, or once it opens) so that the next read opens another. */
  #abandon(): void {
    const pending = this.#connection;
    this.#connection = undefined;
    void pending?.then(
      ({ connection }) =>
        (connection as unknown as AmqpSocketOwner).connection?.stream?.destroy(
          new Error('abandoned: the broker did not answer'),
        ),
      () => {},
    );
  }

  async #readRate(request: ManagementRequest): Promise<number> {
    const what = `rabbitmq queue ${this.#options.queue} (vhost ${request.vhost}) publish rate`;
    const queue = await this.#fetchQueue(request, what, 'message_stats,messages_details');
    const bad = (message: string) => new MetricSourceError('SOURCE_BAD_RESPONSE', `${what}: ${message}`);
    const rate = publishRate(queue, bad);
    if (rate === undefined) {
      // Missing, like a rate's first read elsewhere: the policy holds, and nothing failed (no alert)
      // unless the broker keeps no statistics at all.
      throw await this.#unsampled(
        request,
        what,
        "the management API has not sampled the queue's rates yet (no messages_details or message_stats.publish_details: made or the broker started less than a statistics interval ago)",
      );
    }
    return rate;
  }

  /**
   * #readDepth is the queue's `messages` (ready + unacknowledged) from the management API. Over
   * AMQP only the ready ones are known: workers busy on as many jobs as their prefetch allows, with
   * none ready, read 0, and the group was scaled in (to zero with `activation`) under full work.
   */
  async #readDepth(request: ManagementRequest): Promise<number> {
    const what = `rabbitmq queue ${this.#options.queue} (vhost ${request.vhost}) depth`;
    const queue = await this.#fetchQueue(request, what, 'messages,messages_ready,messages_unacknowledged');
    const bad = (message: string) => new MetricSourceError('SOURCE_BAD_RESPONSE', `${what}: ${message}`);
    const depth = queueDepth(queue, bad);
    if (depth === undefined) {
      throw await this.#unsampled(
        request,
        what,
        "the management API has not sampled the queue's message counts yet (messages; a queue made or a broker started less than a statistics interval ago)",
      );
    }
    return depth;
  }

  /** #fetchQueue GETs the queue object (`columns`: the fields wanted besides `name`). */
  async #fetchQueue(request: ManagementRequest, what: string, columns: string): Promise<unknown> {
    const fail = (code: MetricSourceError['code'], message: string, cause?: unknown) =>
      new MetricSourceError(code, `${what}: ${message}`, cause === undefined ? undefined : { cause });
    let response: Response;
    let body: string;
    try {
      ({ response, body } = await this.#get(`${request.url}?columns=name,${columns}`, request));
    } catch (err) {
      throw fail('SOURCE_FAILED', `management API ${request.url}: ${(err as Error).message}`, err);
    }
    if (response.status === 404) {
      throw fail('SOURCE_FAILED', `no such queue or vhost (management API ${request.url} answered 404)`);
    }
    if (response.status === 401 || response.status === 403) {
      throw fail(
        'SOURCE_FAILED',
        `management API ${request.url} refused user ${request.username} (${response.status} ${excerpt(body)})`,
      );
    }
    if (!response.ok) {
      throw fail(
        'SOURCE_FAILED',
        `management API ${request.url} answered ${response.status} ${excerpt(body)}`,
      );
    }
    try {
      return JSON.parse(body);
    } catch (err) {
      throw fail('SOURCE_BAD_RESPONSE', `management API answered invalid JSON: ${excerpt(body)}`, err);
    }
  }

  /**
   * #unsampled is the error of a read that found no statistics on the queue: no value yet
   * (SOURCE_NOT_READ: a queue made, or a broker started, less than a statistics interval ago), or a
   * failure when the broker says it keeps none (`disable_stats` in `GET /api/overview`:
   * `management_agent.disable_metrics_collector = true`, as the official Docker image sets it for
   * its Prometheus metrics; its `-management` tags turn it back on, a base image with the plugin
   * enabled by hand does not). Before, that was "not sampled yet" for good: the metric missing on
   * every read, and neither logged nor alerted, since nothing had failed.
   */
  async #unsampled(request: ManagementRequest, what: string, notYet: string): Promise<MetricSourceError> {
    const overview = `${request.url.slice(0, request.url.lastIndexOf('/api/queues/'))}/api/overview`;
    const off = await this.#get(`${overview}?columns=disable_stats`, request).then(
      ({ response, body }) => response.ok && statisticsDisabled(body),
      () => false, // unknown: the queue may just be new
    );
    if (!off) return new MetricSourceError('SOURCE_NOT_READ', `${what}: no value: ${notYet}`);
    const instead =
      this.mode === 'length'
        ? 'turn them on, or drop management_url to read the ready messages over AMQP'
        : 'turn them on';
    return new MetricSourceError(
      'SOURCE_FAILED',
      `${what}: no value: the broker keeps no queue statistics (its management API says disable_stats: management_agent.disable_metrics_collector = true?): ${instead}`,
    );
  }

  /**
   * #get GETs `url` of the management API as the request's user: one request, bounded by the
   * timeout and cut short by close() (AbortSignal.any needs 20.3). Rejects with why no answer came.
   */
  async #get(url: string, request: ManagementRequest): Promise<{ response: Response; body: string }> {
    const auth = Buffer.from(`${request.username}:${request.password}`).toString('base64');
    const cancel = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      cancel.abort();
    }, this.#timeout);
    const onClose = () => cancel.abort();
    this.#aborted.signal.addEventListener('abort', onClose, { once: true });
    try {
      const response = await fetch(url, {
        headers: { authorization: `Basic ${auth}`, accept: 'application/json' },
        signal: cancel.signal,
      });
      return { response, body: await response.text() };
    } catch (err) {
      throw new Error(timedOut ? `no answer within ${this.#timeout} ms` : describe(err), { cause: err });
    } finally {
      clearTimeout(timer);
      this.#aborted.signal.removeEventListener('abort', onClose);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#aborted.abort();
    const pending = this.#connection;
    this.#connection = undefined;
    const open = await pending?.catch(() => undefined);
    if (!open) return;
    // AMQP's close waits for the broker's close-ok: a broker that stopped answering never sends
    // it, and close() hung (a reload or shutdown with it). After 1 s the socket is cut instead,
    // with an error: amqplib stops its heartbeat timers on a stream error, not on a bare destroy.
    let timer: NodeJS.Timeout | undefined;
    const closed = await Promise.race([
      open.connection.close().then(
        () => true,
        () => true,
      ),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!closed)
      (open.connection as unknown as AmqpSocketOwner).connection?.stream?.destroy(
        new Error('closed: the broker did not answer close'),
      );
  }
}

/**
 * publishRate is `message_stats.publish_details.rate` of a queue object from the management API.
 * Without publish counters (no `message_stats`, or none for publishes in it) it is 0 when the
 * broker has sampled the queue's rates (`messages_details` is there): nothing was published since
 * its statistics began (a queue nobody publishes to, a broker restarted at night), a measured 0 as
 * much as the rate of 0 after publishing stops. Before, that was no value, a missing metric, and a
 * group scaled on the rate of a queue that got nothing never scaled in. Undefined (no value) while
 * the broker has not sampled the queue yet (made or restarted less than a sample ago) or keeps no
 * statistics: reading those as 0 could scale a group in on a number nobody measured. A publish
 * count without its rate is what a broker with `management.rates_mode = none` reports: an error,
 * a setting to fix.
 */
export function publishRate(queue: unknown, bad: (message: string) => Error): number | undefined {
  if (!isObject(queue)) throw bad(`expected a queue object, got ${excerpt(JSON.stringify(queue))}`);
  const stats = queue.message_stats;
  const sampled = isObject(queue.messages_details) ? 0 : undefined;
  if (stats === undefined) return sampled;
  if (!isObject(stats)) throw bad(`message_stats is not an object: ${excerpt(JSON.stringify(stats))}`);
  const details = stats.publish_details;
  if (details === undefined) {
    if (stats.publish === undefined) return sampled;
    throw bad(
      'message_stats has a publish count but no publish_details.rate (is management.rates_mode none?)',
    );
  }
  const rate = isObject(details) ? details.rate : undefined;
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) {
    throw bad(`message_stats.publish_details.rate is not a rate: ${excerpt(JSON.stringify(details))}`);
  }
  return rate;
}

/**
 * queueDepth is `messages` (ready + unacknowledged) of a queue object from the management API, or
 * undefined when the broker has not sampled the queue yet (no `messages`: it emits queue
 * statistics every `collect_statistics_interval`, 5 s by default, so a fresh queue has none).
 */
export function queueDepth(queue: unknown, bad: (message: string) => Error): number | undefined {
  if (!isObject(queue)) throw bad(`expected a queue object, got ${excerpt(JSON.stringify(queue))}`);
  const { messages } = queue;
  if (messages === undefined) return undefined;
  if (typeof messages !== 'number' || !Number.isInteger(messages) || messages < 0) {
    throw bad(`messages is not a message count: ${excerpt(JSON.stringify(messages))}`);
  }
  return messages;
}

/** statisticsDisabled is whether an `/api/overview` answer says the broker keeps no statistics. */
export function statisticsDisabled(overview: string): boolean {
  try {
    const parsed: unknown = JSON.parse(overview);
    return isObject(parsed) && parsed.disable_stats === true;
  } catch {
    return false;
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // fetch's own message is "fetch failed"; the reason (ECONNREFUSED, …) is its cause.
  const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}

function excerpt(text: string | undefined): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat;
}

/**
 * NatsSource is a JetStream consumer's backlog — messages not yet delivered (`num_pending`) plus
 * delivered but unacknowledged (`num_ack_pending`), less the scaleplane/queue delayed jobs not due
 * yet that it would be given (on its filter subjects) — as a group total: target = messages per worker. A consumer that does not exist yet (a worker
 * group scaled to zero that never ran never made its durable consumer) reads as what it will be
 * given once made with deliver policy all: every message of the stream on its filter subject
 * (`filterSubject`; none, the whole stream), less delayed jobs not due. A missing stream fails the
 * read, naming it.
 */
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import {
  delayedPatternsOf,
  filtersOf,
  notDueCount,
  readNotDue,
  subjectMatches,
} from '../queue/nats/delayed.js';
import { DEFAULT_INBOX_PREFIX, deniedInbox, deniedInboxText } from '../queue/nats/inbox.js';
import { type MetricSource, MetricSourceError } from './source.js';
import { type NatsServers, natsServers } from './url-credentials.js';

/** errorText renders a thrown value for a message. */
function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** NatsSourceOptions names the server, the stream and its durable consumer. */
export interface NatsSourceOptions {
  /**
   * `nats://host:4222`, or the servers of a cluster as a comma-separated list
   * (`nats://a:4222,nats://b:4222`): the client connects to one that is up and fails over to
   * another. `nats://user:password@host:4222` or `nats://token@host:4222` authenticates; a comma
   * in them may be written as it is (see splitNatsServers for where the list is split).
   */
  url: string;
  stream: string;
  consumer: string;
  /**
   * The filter subject the consumer is (or will be) made with: what a consumer not made yet is read
   * as (the stream's messages on this subject). A consumer that exists is read as itself.
   * @defaultValue none: the whole stream
   */
  filterSubject?: string;
  /**
   * The subject prefix the connection takes JetStream's replies on (the queue backend's
   * `nats.inboxPrefix`): a user allowed to subscribe only under it. Before, the source always used
   * the default, and such a user's every read was refused its reply inbox.
   * @defaultValue '_INBOX'
   */
  inboxPrefix?: string;
}

/** NatsSource reads one consumer's pending count. */
export class NatsSource implements MetricSource {
  readonly name = 'nats';
  readonly kind = 'total' as const;
  readonly #options: NatsSourceOptions;
  readonly #servers: NatsServers;
  #connection: Promise<NatsConnection> | undefined;
  #closed = false;
  /** Throws an Error for a URL whose credentials cannot be read. */
  constructor(options: NatsSourceOptions) {
    this.#options = options;
    this.#servers = natsServers(options.url);
  }

  #connect(): Promise<NatsConnection> {
    // The credentials go as options: the client ignores them in the URL and connected without any.
    const { servers, auth } = this.#servers;
    const { inboxPrefix } = this.#options;
    // Loaded here, not with the app: ~110 files every process read at start, for this source only.
    this.#connection ??= import('@nats-io/transport-node')
      .then(({ connect }) =>
        connect({ servers, ...auth, timeout: 2000, ...(inboxPrefix ? { inboxPrefix } : {}) }),
      )
      .then((nc) => {
        void nc.closed().then(() => {
          this.#connection = undefined;
        });
        return nc;
      });
    this.#connection.catch(() => {
      this.#connection = undefined;
    });
    return this.#connection;
  }

  async read(): Promise<number[]> {
    const { stream, consumer, filterSubject } = this.#options;
    if (this.#closed) throw new MetricSourceError('SOURCE_FAILED', 'closed');
    const failed = (what: string, err: unknown) =>
      new MetricSourceError('SOURCE_FAILED', `nats ${stream}/${consumer}: ${what}`, { cause: err });
    try {
      const { JetStreamApiCodes, JetStreamApiError, jetstreamManager } = await import('@nats-io/jetstream');
      const notFound = (err: unknown, code: number) => err instanceof JetStreamApiError && err.code === code;
      const jsm = await jetstreamManager(await this.#connect(), { timeout: 2000 });
      const streamInfo = await jsm.streams.info(stream).catch((err: unknown) => {
        if (notFound(err, JetStreamApiCodes.StreamNotFound))
          throw failed(`stream ${JSON.stringify(stream)} not found`, err);
        throw err;
      });
      // Not made yet: read as what it will be given. Any other failure is no reading.
      const info = await jsm.consumers.info(stream, consumer).catch((err: unknown) => {
        if (notFound(err, JetStreamApiCodes.ConsumerNotFound)) return undefined;
        throw err;
      });
      const now = Date.now();
      if (info === undefined) return [await this.#unconsumed(jsm, streamInfo, filterSubject, now)];
      // Delayed jobs of a scaleplane/queue stream are stored at once; those not due yet would wake
      // a group scaled to zero to idle until they are (see queue/nats/delayed.ts). Only those on the
      // consumer's filter subjects are in its counts.
      const notDue = await readNotDue(jsm, streamInfo, now, filtersOf(info.config));
      return [Math.max(0, info.num_pending + info.num_ack_pending - notDue)];
    } catch (err) {
      if (err instanceof MetricSourceError) throw err;
      // Before, the server's text alone, naming a subject of the client's making and no permission.
      const prefix = this.#options.inboxPrefix || DEFAULT_INBOX_PREFIX;
      const inbox = deniedInbox(err, prefix);
      throw failed(inbox ? deniedInboxText(inbox, prefix) : errorText(err), err);
    }
  }

  /**
   * #unconsumed is the backlog of a consumer not made yet: the messages a durable consumer with
   * deliver policy all and `filterSubject` would have pending once made, less delayed jobs not due.
   * Before, its read failed ("consumer not found"), so a group scaled to zero that had never run
   * was never woken by its backlog.
   */
  async #unconsumed(
    jsm: JetStreamManager,
    info: StreamInfo,
    filterSubject: string | undefined,
    now: number,
  ): Promise<number> {
    if (filterSubject === undefined)
      return Math.max(0, info.state.messages - (await readNotDue(jsm, info, now)));
    // Per-subject counts of the subjects the filter matches (one request, paged by the client).
    const { state } = await jsm.streams.info(info.config.name, { subjects_filter: filterSubject });
    const subjects = state.subjects ?? {};
    const stored = Object.values(subjects).reduce((sum, n) => sum + n, 0);
    // Only the delayed subjects the filter matches hold jobs the consumer would be given.
    const patterns = delayedPatternsOf(info.config.subjects ?? []);
    const delayed = Object.fromEntries(
      Object.entries(subjects).filter(([subject]) => patterns.some((p) => subjectMatches(p, subject))),
    );
    return Math.max(0, stored - notDueCount(delayed, now));
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#connection;
    this.#connection = undefined;
    const nc = await pending?.catch(() => undefined);
    await nc?.close().catch(() => {});
  }
}

/**
 * NatsSource is a JetStream consumer's backlog — messages not yet delivered (`num_pending`) plus
 * delivered but unacknowledged (`num_ack_pending`), less the scaleplane/queue delayed jobs not due
 * yet — as a group total: target = messages per worker.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import { readNotDue } from '../queue/nats/delayed.js';
import { type MetricSource, MetricSourceError } from './source.js';
import { type NatsServer, natsServer } from './url-credentials.js';

/** NatsSourceOptions names the server, the stream and its durable consumer. */
export interface NatsSourceOptions {
  /** `nats://host:4222`; `nats://user:password@host:4222` or `nats://token@host:4222` authenticates. */
  url: string;
  stream: string;
  consumer: string;
}

/** NatsSource reads one consumer's pending count. */
export class NatsSource implements MetricSource {
  readonly name = 'nats';
  readonly kind = 'total' as const;
  readonly #options: NatsSourceOptions;
  readonly #server: NatsServer;
  #connection: Promise<NatsConnection> | undefined;
  #closed = false;
  /** Throws an Error for a URL whose credentials cannot be read. */
  constructor(options: NatsSourceOptions) {
    this.#options = options;
    this.#server = natsServer(options.url);
  }

  #connect(): Promise<NatsConnection> {
    // The credentials go as options: the client ignores them in the URL and connected without any.
    const { server, auth } = this.#server;
    // Loaded here, not with the app: ~110 files every process read at start, for this source only.
    this.#connection ??= import('@nats-io/transport-node')
      .then(({ connect }) => connect({ servers: server, ...auth, timeout: 2000 }))
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
    const { stream, consumer } = this.#options;
    if (this.#closed) throw new MetricSourceError('SOURCE_FAILED', 'closed');
    try {
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const jsm = await jetstreamManager(await this.#connect(), { timeout: 2000 });
      const info = await jsm.consumers.info(stream, consumer);
      // Delayed jobs of a scaleplane/queue stream are stored at once; those not due yet would wake
      // a group scaled to zero to idle until they are (see queue/nats/delayed.ts).
      const notDue = await readNotDue(jsm, await jsm.streams.info(stream), Date.now());
      return [Math.max(0, info.num_pending + info.num_ack_pending - notDue)];
    } catch (err) {
      throw new MetricSourceError(
        'SOURCE_FAILED',
        `nats ${stream}/${consumer}: ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#connection;
    this.#connection = undefined;
    const nc = await pending?.catch(() => undefined);
    await nc?.close().catch(() => {});
  }
}

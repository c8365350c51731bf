/**
 * RabbitMqSource is a queue's depth (ready messages, from `checkQueue`) as a group total: target =
 * messages per worker. One connection per source, reopened after it breaks.
 */
import amqp from 'amqplib';
import { type MetricSource, MetricSourceError } from './source.js';

type Connection = Awaited<ReturnType<typeof amqp.connect>>;
type Channel = Awaited<ReturnType<Connection['createChannel']>>;

/** RabbitMqSourceOptions names the broker and the queue. */
export interface RabbitMqSourceOptions {
  url: string;
  queue: string;
}

/** RabbitMqSource reads one queue's depth. */
export class RabbitMqSource implements MetricSource {
  readonly name = 'rabbitmq';
  readonly kind = 'total' as const;
  readonly #options: RabbitMqSourceOptions;
  #connection: Promise<{ connection: Connection; channel: Channel }> | undefined;
  #closed = false;
  constructor(options: RabbitMqSourceOptions) {
    this.#options = options;
  }

  #connect() {
    this.#connection ??= (async () => {
      const connection = await amqp.connect(this.#options.url);
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
    try {
      const { channel } = await this.#connect();
      const { messageCount } = await channel.checkQueue(this.#options.queue);
      return [messageCount];
    } catch (err) {
      throw new MetricSourceError(
        'SOURCE_FAILED',
        `rabbitmq queue ${this.#options.queue}: ${err instanceof Error ? err.message : err}`,
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#connection;
    this.#connection = undefined;
    const open = await pending?.catch(() => undefined);
    await open?.connection.close().catch(() => {});
  }
}

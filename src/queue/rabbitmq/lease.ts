import type { Channel } from 'amqplib';

/**
 * renewQuorumLease renews a quorum queue's `x-expires` lease, which declaring it does not
 * (rabbitmq-server#5894: a quorum delay queue expired its lease after its creation however often it
 * was declared, with the jobs in it): a consumer given no credit (`x-credit`) takes nothing, and
 * RabbitMQ dates the lease from when the queue's last consumer left. Only for delayQueueKind's
 * brokers; a job delivered all the same is handed back at once.
 */
export async function renewQuorumLease(ch: Channel, queue: string): Promise<void> {
  const { consumerTag } = await ch.consume(
    queue,
    (msg) => {
      if (msg) ch.nack(msg, false, true);
    },
    { arguments: { 'x-credit': { credit: { '!': 'long', value: 0 }, drain: false } } },
  );
  await ch.cancel(consumerTag);
}

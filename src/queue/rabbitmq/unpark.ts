import type { ChannelModel, GetMessage } from 'amqplib';
import type { RabbitNames } from './topology.js';

/** How many parked jobs are published before their confirms are awaited and their copies acked. */
const BATCH = 100;

/**
 * unparkJobs moves up to `count` jobs parked for a queue (due while it was deleted, see
 * topology.ts) back into it, and returns how many it moved. Each goes through the `due` exchange
 * again, so a queue deleted once more meanwhile parks it again rather than dropping it; `count`
 * (read before) bounds the loop for that case. A parked copy is acked only once its move is
 * confirmed: a failure leaves it parked, for the next declaration to move (at least once).
 */
export async function unparkJobs(model: ChannelModel, names: RabbitNames, count: number): Promise<number> {
  const ch = await model.createConfirmChannel();
  ch.on('error', () => {});
  let moved = 0;
  try {
    while (moved < count) {
      const batch: GetMessage[] = [];
      while (batch.length < BATCH && moved + batch.length < count) {
        const msg = await ch.get(names.parked, { noAck: false });
        if (!msg) break;
        const { messageId, contentType, headers, priority } = msg.properties;
        ch.publish(names.due, names.queue, msg.content, {
          persistent: true,
          messageId,
          contentType,
          headers,
          ...(priority === undefined ? {} : { priority }),
        });
        batch.push(msg);
      }
      if (batch.length === 0) break;
      await ch.waitForConfirms();
      for (const msg of batch) ch.ack(msg);
      moved += batch.length;
    }
    return moved;
  } finally {
    await ch.close().catch(() => {});
  }
}

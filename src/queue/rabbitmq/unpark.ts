import type { ChannelModel, ConfirmChannel, GetMessage } from 'amqplib';
import { KEPT_SINCE, LETTER_ID, passDeadLetters, passFree } from './browse.js';
import type { RabbitNames } from './topology.js';

/**
 * unparkJobs moves the jobs parked for a queue (due while it was deleted, see topology.ts) back
 * into it, and returns how many it moved. Each goes through the `due` exchange again, so a queue
 * deleted once more meanwhile parks it again rather than dropping it (behind the jobs there at the
 * start, which bound the pass). A parked job is acked only once its move is confirmed.
 *
 * A job whose move fails stays parked without being given back: given back (nack with requeue, or
 * its channel closing), a quorum queue counts a delivery attempt in `x-delivery-count`, and from
 * RabbitMQ 4.0 every quorum queue has a delivery limit (20 by default; a `delivery-limit` policy
 * does the same on 3.x): past it the job was dead-lettered, and the parked queue has no dead-letter
 * exchange, so about 20 failed moves dropped every parked job. So this is a pass of browse.ts: a
 * job the broker refuses is copied to the tail of the parked queue (a new message, its count 0) and
 * the original acked once the copy is confirmed, for the next declaration to move. A refusal is
 * reported once the pass is done; any other failure stops the moves, the jobs not moved go round,
 * and it is reported. At least once: a crash between a move's confirm and its ack moves it twice.
 */
export async function unparkJobs(model: ChannelModel, names: RabbitNames, count: number): Promise<number> {
  if (count <= 0) return 0;
  const ch = await model.createConfirmChannel();
  let closed: Error | undefined;
  ch.on('error', (error: Error) => {
    closed ??= error;
  });
  ch.on('close', () => {
    closed ??= new Error('the channel moving parked jobs closed');
  });
  let moved = 0;
  let refused = 0;
  let why = '';
  try {
    await passDeadLetters(
      model,
      names.parked,
      async (msg) => {
        try {
          await move(ch, names, msg, () => closed);
        } catch (error) {
          if (!(error instanceof Refused)) throw error;
          refused++;
          why = error.message;
          return 'keep';
        }
        moved++;
        return 'taken';
      },
      // A parked job carries no id of its own that is unique (a job id may be published twice):
      // only the identity its first copy is stamped with tells copies apart. No TTL: jobs wait.
      { idHeader: LETTER_ID, writtenAtHeader: KEPT_SINCE },
    );
  } catch (error) {
    throw new Error(
      `moving parked jobs of ${names.queue} stopped (${(error as Error).message}): ${moved} moved, the others stay parked`,
      { cause: error },
    );
  } finally {
    await ch.close().catch(() => {});
  }
  if (refused > 0)
    throw new Error(
      `the broker refused ${refused} parked job${refused === 1 ? '' : 's'} of ${names.queue} (${why}): they stay parked for its next declaration; ${moved} moved`,
    );
  return moved;
}

/** Refused is a move the broker nacked: it stored nothing, so the job stays parked. */
class Refused extends Error {}

/** move publishes one parked job to `due` and resolves once the broker confirmed it stored it. */
function move(ch: ConfirmChannel, names: RabbitNames, msg: GetMessage, closed: () => Error | undefined) {
  return new Promise<void>((resolve, reject) => {
    const gone = closed();
    if (gone) {
      reject(gone);
      return;
    }
    const { messageId, contentType, headers, priority } = msg.properties;
    const onClose = () => reject(closed() ?? new Error('the channel moving parked jobs closed'));
    ch.once('close', onClose);
    ch.publish(
      names.due,
      names.queue,
      msg.content,
      {
        persistent: true,
        messageId,
        contentType,
        headers: passFree(headers),
        ...(priority === undefined ? {} : { priority }),
      },
      (err) => {
        ch.off('close', onClose);
        if (err) reject(new Refused('the broker nacked the move'));
        else resolve();
      },
    );
  });
}

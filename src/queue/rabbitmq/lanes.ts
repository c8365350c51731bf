/**
 * LANE_PREFETCH_MAX is the most deliveries one consumer channel is given at a time. A channel keeps
 * the settles it sent a quorum queue in flight until the queue applied them; past
 * `quorum_commands_soft_limit` (32 by default) it holds further ones back, unsent, until replies
 * come. The round trip that confirms an ack (settleBarrier) proves the channel took the ack, not
 * that it sent it on: a connection closed then lost the held ones, and the queue gave those jobs
 * out again as stalls. A channel's settles in flight never outnumber its unacked deliveries, so a
 * prefetch under the limit keeps every ack sent on. Measured with one channel of prefetch 50 whose
 * acks went out at once just before its connection closed: 16 jobs ran twice in 8 of 15 closes;
 * with prefetch 25 and 31, none in 5 closes each.
 */
export const LANE_PREFETCH_MAX = 25;

/**
 * consumerLanes splits `concurrency` over as few consumer channels as keep each prefetch at most
 * `max`, as evenly as can be: 50 → [25, 25], 60 → [20, 20, 20], 7 → [7].
 */
export function consumerLanes(concurrency: number, max: number = LANE_PREFETCH_MAX): number[] {
  const count = Math.max(1, Math.ceil(concurrency / max));
  const base = Math.floor(concurrency / count);
  return Array.from({ length: count }, (_, i) => base + (i < concurrency % count ? 1 : 0));
}

/**
 * The decision clock: what the controller's windows run on (stabilization, scale events, metric
 * windows, a polled value's age, queue arrival rates). It reads the wall clock once, when this
 * module loads, and from then on adds monotonic time, as Go's time.Now() carries a monotonic
 * reading that the HPA's windows subtract. A step of the system clock (NTP, a VM resumed, an
 * operator's `date -s`) then moves no window. Before, all of them read Date.now: a step back of
 * 10 min made CPU missing for the 31 s its window took to refill, a step forward ended the 5-min
 * scale-down stabilization at once.
 *
 * Its readings are ms since the epoch, so they still read as a date (the journal's times): the
 * wall clock at start plus the time run since. They differ from Date.now only by the steps since
 * the process started (see {@link wallOffset}), and a restart takes the wall clock afresh, so a
 * time kept across restarts is translated at the edge (PolicyMemoryFile).
 */

const wallOrigin = Date.now();
const monotonicOrigin = performance.now();

/**
 * monotonicNow is the decision clock's time: ms since the epoch as of start, plus monotonic time
 * since; whole ms, as Date.now (journal inputs and messages show differences of it).
 */
export function monotonicNow(): number {
  return Math.floor(wallOrigin + (performance.now() - monotonicOrigin));
}

/**
 * wallOffset is how far the decision clock is ahead of the wall clock now, ms: minus the sum of the
 * system clock's steps since the process started (plus any drift between the two clocks).
 */
export function wallOffset(): number {
  return monotonicNow() - Date.now();
}

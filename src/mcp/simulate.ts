import { fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExperimentOptions, ExperimentRow } from '../sim/index.js';

/** The child's file beside this one: `.ts` when running from source (tsx), `.js` when built. */
const CHILD = fileURLToPath(
  new URL(`./simulate-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

/**
 * MAX_SIMULATIONS bounds the simulator processes running at once (one per core but one): each keeps
 * a core busy and holds its own heap, so calls in parallel must not multiply them without end.
 */
export const MAX_SIMULATIONS = Math.max(1, availableParallelism() - 1);

/**
 * SIMULATE_TIMEOUT_MS bounds one simulation's run. The trace and knobs are bounded, not their
 * product: a week at 1 s with min = max = 10000 and every preset measured ~17 minutes of a core, the
 * only simulation slot on 2 cores held all along. Twice the MCP SDK client's own request timeout
 * (60 s), and room for a week of every preset at its defaults; a bigger run is `scaleplane simulate`'s.
 */
export const SIMULATE_TIMEOUT_MS = 120_000;

let running = 0;

/**
 * simulateApart runs an experiment in a child process and resolves with its rows; `signal` (the tool
 * call cancelled, its client gone) kills the child. In the MCP server's own thread, a week-long
 * trace through every preset took ~5 s, and with max 10000 at a 1 s interval ~97 s, and no other
 * caller's tool call (scale_group included) was answered meanwhile.
 */
export function simulateApart(
  trace: Float64Array,
  options: ExperimentOptions,
  signal?: AbortSignal,
  timeoutMs = SIMULATE_TIMEOUT_MS,
): Promise<ExperimentRow[]> {
  if (running >= MAX_SIMULATIONS)
    return Promise.reject(
      new Error(
        `simulate: ${running} simulation(s) already running, the most at once (one per core but one); retry when one ends`,
      ),
    );
  running++;
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      running--;
      clearTimeout(deadline);
      signal?.removeEventListener('abort', cancel);
      outcome();
    };
    const cancel = () => {
      child.kill('SIGKILL');
      finish(() => reject(new Error('simulate: cancelled')));
    };
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() =>
        reject(
          new Error(
            `simulate: not finished within ${timeoutMs / 1000} s, and stopped: the work grows with the trace's length × the instances × the policies; shorten the trace, raise interval, lower max (or min), ask fewer policies, or run \`scaleplane simulate\` for a run this long`,
          ),
        ),
      );
    }, timeoutMs);
    if (signal?.aborted) return cancel();
    signal?.addEventListener('abort', cancel);
    child.once('message', (answer: { rows?: ExperimentRow[]; error?: string }) =>
      finish(() => (answer.rows ? resolve(answer.rows) : reject(new Error(`simulate: ${answer.error}`)))),
    );
    child.once('error', (err) => finish(() => reject(err)));
    child.once('exit', (code, sig) =>
      finish(() => reject(new Error(`simulate: the simulator process ended (${sig ?? `exit ${code}`})`))),
    );
    try {
      child.send({ trace, options });
    } catch (err) {
      child.kill('SIGKILL');
      finish(() => reject(err));
    }
  });
}

import { fork } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExperimentOptions, ExperimentRow } from '../sim/index.js';

/** The child's file beside this one: `.ts` when running from source (tsx), `.js` when built. */
const CHILD = fileURLToPath(
  new URL(`./simulate-child${extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

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
): Promise<ExperimentRow[]> {
  return new Promise((resolve, reject) => {
    const child = fork(CHILD, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    let settled = false;
    const finish = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', cancel);
      outcome();
    };
    const cancel = () => {
      child.kill('SIGKILL');
      finish(() => reject(new Error('simulate: cancelled')));
    };
    if (signal?.aborted) return cancel();
    signal?.addEventListener('abort', cancel);
    child.once('message', (answer: { rows?: ExperimentRow[]; error?: string }) =>
      finish(() => (answer.rows ? resolve(answer.rows) : reject(new Error(`simulate: ${answer.error}`)))),
    );
    child.once('error', (err) => finish(() => reject(err)));
    child.once('exit', (code, sig) =>
      finish(() => reject(new Error(`simulate: the simulator process ended (${sig ?? `exit ${code}`})`))),
    );
    child.send({ trace, options });
  });
}

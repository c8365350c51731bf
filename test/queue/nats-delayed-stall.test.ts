// A delayed job whose first delivery came after it was due (no worker pulled while it waited: a
// group scaled to zero, every slot busy) and whose worker then died. JetStream counts every
// delivery, and the backend took the second delivery of any due delayed job for the one spent
// waiting out its delay: so the redelivery after the crash ran as attempt 1 again, a stall that
// was never counted, and the job ran once more than `maxStalls` allows before it was
// dead-lettered. Now such a first delivery is given back at once (a nak), as one that came early
// is given back to wait, so every delayed job's runs start at its second delivery. Worker
// processes of the stall fixture (SIGKILL on a "poison" job; retries 0, stallTimeout 500 ms, one
// stall allowed) on the shared nats-server, one after another as a supervisor restarts them.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createQueue } from '../../src/queue/index.js';
import { runnable } from '../helpers/runnable.js';
import { backendOptions, uniqueName } from './helpers.js';

const stallWorker = fileURLToPath(new URL('./fixtures/stall-worker.ts', import.meta.url));

describe('NATS: a delayed job first delivered after it was due, then stalled', () => {
  const queue = createQueue(backendOptions('nats'));
  queue.on('error', () => {});
  const q = uniqueName('delayed-stall');
  const children = new Set<ChildProcess>();
  let finished = false;
  after(async () => {
    finished = true;
    for (const c of children) c.kill('SIGKILL');
    await queue.destroy(q).catch(() => {});
    await queue.close();
  });

  it('counts the redelivery after the crash as attempt 2 and dead-letters after maxStalls', async () => {
    const maxStalls = 1;
    const lines: string[] = [];
    let changed = () => {};
    let crashes = 0;
    const spawnWorker = () => {
      const child = spawn(process.execPath, runnable(stallWorker), {
        env: { ...process.env, STALL_BACKEND: 'nats', STALL_QUEUE: q, STALL_MAX_STALLS: String(maxStalls) },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.add(child);
      createInterface({ input: child.stdout! }).on('line', (line) => {
        lines.push(line);
        changed();
      });
      child.on('exit', (_code, signal) => {
        children.delete(child);
        if (signal === 'SIGKILL') crashes++;
        if (signal === 'SIGKILL' && !finished) spawnWorker();
        changed();
      });
    };
    const delay = 200;
    await queue.publish(q, 'poison', { id: 'poison', delay });
    // No worker runs until the job is due, so its first delivery comes late, as to a group at zero.
    await new Promise((resolve) => setTimeout(resolve, delay + 50));
    spawnWorker();
    // Woken by each line and each exit of a worker; the bound covers tsx loading 3-4 processes.
    const deadline = Date.now() + 90_000;
    while (!lines.some((l) => l.startsWith('dead-lettered poison'))) {
      if (Date.now() > deadline) assert.fail(`not dead-lettered within 90 s: ${lines.join(' | ')}`);
      await new Promise<void>((resolve) => {
        changed = resolve;
        setTimeout(resolve, 1000);
      });
    }
    finished = true;
    await Promise.all(
      [...children].map((c) => new Promise((resolve) => c.once('exit', resolve).kill('SIGTERM'))),
    );
    const runs = lines.filter((l) => l.startsWith('start poison'));
    console.log(
      `runs: ${runs.join(', ')}; crashes ${crashes}; ${lines.filter((l) => l.startsWith('dead')).join('')}`,
    );
    // Run once, recovered maxStalls times, then dead-lettered unrun by the next worker.
    assert.deepEqual(runs, ['start poison 1', 'start poison 2']);
    assert.equal(crashes, maxStalls + 1);
    const [letter, ...more] = await queue.dlq(q).list();
    assert.equal(more.length, 0);
    assert.equal(letter?.reason, 'StallLimit');
    assert.equal(letter?.job.stalls, maxStalls + 1);
    assert.equal(letter?.job.attempt, maxStalls + 2, 'the delivery that dead-lettered it');
  });
});

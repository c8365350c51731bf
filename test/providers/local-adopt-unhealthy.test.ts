// A controller that restarts (or takes over) while its instances' health path fails (a dependency
// down: 503) keeps the instances it adopts, out of rotation, until they pass. Before, it killed
// each at start_timeout as a failed start, where the leader before it had kept them running.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { alive, makeProvider, memoryRegistry, recordingLogger, tempDir, until } from './local-helpers.js';

describe('local provider: adopting instances whose health check fails', () => {
  it('keeps them running out of rotation, and they serve again once they pass', async (t) => {
    const dir = await tempDir(t, 'adopt-unhealthy');
    const down = join(dir, 'dependency-down');
    const app = join(dir, 'app.cjs');
    // Answers /healthz 503 while the file exists, as an app whose database is down.
    writeFileSync(
      app,
      `const fs = require('fs');
       require('http').createServer((req, res) => {
         res.statusCode = fs.existsSync(${JSON.stringify(down)}) ? 503 : 200;
         res.end();
       }).listen(Number(process.env.PORT), '127.0.0.1');`,
    );
    const registry = memoryRegistry();
    const config = { command: `exec "${process.execPath}" "${app}"`, startTimeout: 1000 };
    // The 1 s start_timeout is the adopting provider's; the first only has to start the two. With
    // it too, two node processes had 1 s to answer on a loaded machine, and one that did not failed
    // there, so the test failed on pids, not on what the adoption did.
    const first = makeProvider(
      t,
      { ...config, startTimeout: 30_000 },
      { registry, logDir: dir, cgroups: null },
    );
    const starting = performance.now();
    await first.scaleTo(2);
    t.diagnostic(`the first provider's 2 instances ready in ${Math.round(performance.now() - starting)} ms`);
    assert.deepEqual(
      first.instances().map((i) => i.state),
      ['ready', 'ready'],
      'the first provider started both instances',
    );
    const pids = first.instances().map((i) => i.pid!);
    writeFileSync(down, '');
    await first.release();

    let held!: () => void;
    const bothHeld = new Promise<void>((resolve) => {
      held = resolve;
    });
    let heldCount = 0;
    const logger = recordingLogger((line) => {
      if (line.msg.includes('kept out of rotation') && ++heldCount === 2) held();
    });
    const next = makeProvider(t, config, { registry, logDir: dir, cgroups: null, logger });
    let crashes = 0;
    next.on('crash', () => crashes++);
    await next.start();
    // Both held at start_timeout (1 s; without the fix they are failed then instead), then
    // another start_timeout and a half of probing.
    await Promise.race([bothHeld, new Promise((resolve) => setTimeout(resolve, 3000))]);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.deepEqual(
      pids.map(alive),
      [true, true],
      `adopted instances killed while their health check failed (crashes: ${crashes})`,
    );
    assert.equal(crashes, 0, `${crashes} adopted instance(s) failed as crashes`);
    assert.deepEqual(
      next.instances().map((i) => i.state),
      ['starting', 'starting'],
      'an instance failing its health check is out of rotation',
    );
    // The count is reached as far as it can be: a scaleTo does not wait on them.
    await next.scaleTo(2);

    rmSync(down);
    await until(next, () => next.instances().filter((i) => i.state === 'ready').length === 2, 10_000);
    assert.deepEqual(
      next.instances().map((i) => i.pid),
      pids,
      'the same instances serve once their dependency is back',
    );
  });
});

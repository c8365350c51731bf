import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Instance } from '../../src/providers/index.js';
import { lostItsPort } from '../../src/providers/local/ports.js';
import { APP, makeProvider, recordingLogger } from './local-helpers.js';

describe('local provider: a command that goes to the background', () => {
  it('is a crash saying so at its first start, not "the port was taken" and 3 more ports', async (t) => {
    const logger = recordingLogger();
    // The shell starts the app in the background and exits 0; the app then listens on $PORT.
    const provider = makeProvider(
      t,
      { command: `"${process.execPath}" "${APP}" &`, crashLoopLimit: 1 },
      { logger },
    );
    const crashes: Array<[Instance, { code: number | null; reason?: string | undefined }]> = [];
    provider.on('crash', (instance, detail) => crashes.push([instance, detail]));
    await provider.scaleTo(1);
    const [instance, detail] = crashes[0] ?? [];
    assert.equal(instance?.id, 'web-1', `first crash ${instance?.id}`);
    assert.equal(detail?.code, 0);
    assert.match(
      detail?.reason ?? '',
      /exit code 0: its other processes kept running: the command went to the background/,
    );
    const portTaken = logger.lines.filter((l) => /the port was taken/.test(l.msg)).map((l) => l.msg);
    assert.deepEqual(portTaken, []);
  });

  it('lostItsPort: a listener left by its own processes is not a lost port (pure)', () => {
    assert.equal(
      lostItsPort({ saidAddressInUse: false, portAfterExit: 'open', leftGroupRunning: true }),
      false,
    );
    assert.equal(
      lostItsPort({ saidAddressInUse: false, portAfterExit: 'open', leftGroupRunning: false }),
      true,
    );
    // Its output said EADDRINUSE: the port was someone else's whatever it left running.
    assert.equal(
      lostItsPort({ saidAddressInUse: true, portAfterExit: 'skipped', leftGroupRunning: true }),
      true,
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Instance } from '../../src/providers/index.js';
import { makeProvider } from './local-helpers.js';

// spawn() throws instead of emitting 'error' for these; the start must still fail like any other.
const CASES: Array<{ name: string; env: Record<string, string>; reason: RegExp }> = [
  // One string over MAX_ARG_STRLEN (32 pages, 128 KiB): execve answers E2BIG.
  { name: 'an env value over 128 KiB', env: { BIG: 'x'.repeat(200_000) }, reason: /E2BIG.*128 KiB/ },
  {
    name: 'a NUL byte in an env value',
    env: { BAD: 'a\u0000b' },
    reason: /options\.env\['BAD'\].*null bytes/,
  },
];

describe('local provider: a spawn that throws', () => {
  for (const c of CASES) {
    it(`${c.name}: a failed start (crash, scaleTo resolves), not a slot starting for good`, {
      timeout: 20_000,
    }, async (t) => {
      const provider = makeProvider(t, { env: c.env, crashLoopLimit: 1 }, { healthPath: '' });
      // Listeners, not events.once: that rejects on the 'error' this failure also emits.
      const crashes: Array<[Instance, { reason?: string | undefined }]> = [];
      const starts: Array<{ operation: string; error?: Error }> = [];
      provider.on('crash', (instance, detail) => crashes.push([instance, detail]));
      provider.on('operation', (op) => starts.push(op));
      const paused = new Promise((resolve) => provider.once('crashLoop', resolve));
      await provider.scaleTo(1);
      const [instance, detail] = crashes[0] ?? [];
      assert.equal(instance?.id, 'web-1');
      assert.match(detail?.reason ?? '', c.reason);
      assert.equal(starts[0]?.operation, 'start');
      assert.equal((starts[0]?.error as { code?: string } | undefined)?.code, 'SPAWN_FAILED');
      // The crash loop (limit 1) pauses replacement: nothing is left starting, no pid, no port.
      await paused;
      assert.deepEqual(provider.instances(), []);
    });
  }
});

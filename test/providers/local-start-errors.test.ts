// A start or crash that fails says why in words an operator can act on. Before: a missing cwd was
// reported as `cannot run <command>` caused by `spawn /usr/bin/setpriv ENOENT` (a missing binary, it
// seemed); a command that does not exist as `exit code 127` with the shell's own line only in the
// info log; an OOM kill inside the instance's cgroup as `exit code 137` (a shell leader's view of it).
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { detectCgroups } from '../../src/providers/index.js';
import type { LocalProvider } from '../../src/providers/local/provider.js';
import { APP, makeProvider } from './local-helpers.js';

/** firstStartError resolves with the message of the first failed start. */
function firstStartError(provider: LocalProvider): Promise<string> {
  return new Promise((resolve) => {
    provider.on('operation', (outcome) => {
      if (outcome.operation === 'start' && outcome.error) resolve(outcome.error.message);
    });
  });
}

/** crashNow makes the (ready) instance exit with code 3 through the app's /crash. */
async function crashNow(provider: LocalProvider): Promise<void> {
  const { address } = provider.instances()[0]!;
  // The process exits before answering: the request fails, which is the point.
  await fetch(`http://${address}/crash`).catch(() => {});
}

function failing(t: TestContext, config: Parameters<typeof makeProvider>[1], options = {}) {
  // One attempt is enough: no replacement after the first crash.
  return makeProvider(t, { crashLoopLimit: 0, ...config }, options);
}

describe('start and crash errors', () => {
  it('a command that does not exist: exit code 127, what it means, and the shell line', async (t) => {
    const provider = failing(t, { command: 'no-such-app-xyz --serve' });
    const error = firstStartError(provider);
    await provider.scaleTo(1);
    assert.match(
      await error,
      /^web-1: start failed: exited before answering \/healthz \(exit code 127: command not found, check command; last output: ".*no-such-app-xyz: not found"\)$/,
    );
  });

  it('a cwd that does not exist is named as the cause', async (t) => {
    const provider = failing(t, { cwd: '/nonexistent/scaleplane-cwd' });
    const error = firstStartError(provider);
    await provider.scaleTo(1);
    assert.equal(await error, 'web-1: cannot start: cwd /nonexistent/scaleplane-cwd does not exist');
  });

  it('a crash of a ready instance gives its exit code and last line on the crash event', async (t) => {
    const provider = failing(t, {});
    const crash = new Promise<string | undefined>((resolve) =>
      provider.on('crash', (_instance, detail) => resolve(detail.reason)),
    );
    await provider.scaleTo(1);
    await crashNow(provider);
    assert.match(
      (await crash) ?? '',
      /^exited unexpectedly \(exit code 3; last output: "listening on \d+"\)$/,
    );
  });

  it('a crashed instance leaves rotation at once, before its detail (up to 500 ms) is read', async (t) => {
    // A background child keeps the output pipe open, so the detail waits its 500 ms bound.
    const provider = failing(t, { command: `sleep 30 & exec "${process.execPath}" "${APP}"` });
    await provider.scaleTo(1);
    const pid = provider.instances()[0]!.pid;
    const order: string[] = [];
    provider.on('change', () => {
      const instance = provider.instances().find((i) => i.pid === pid);
      if (instance && instance.state !== 'ready' && !order.includes('out')) order.push('out');
    });
    const crashed = new Promise<void>((resolve) =>
      provider.on('crash', () => {
        order.push('crash');
        resolve();
      }),
    );
    await crashNow(provider);
    await crashed;
    assert.deepEqual(order, ['out', 'crash']);
  });

  // An app that ignores $PORT used to fail with "did not answer /healthz within N ms" only: one
  // connect probe at the timeout tells a closed port from a health check that fails.
  it('an app listening elsewhere: nothing listens on its port, it must listen on $PORT', async (t) => {
    const provider = failing(t, { startTimeout: 1000, env: { LISTEN_ON: '0' } });
    const error = firstStartError(provider);
    await provider.scaleTo(1);
    assert.match(
      await error,
      /^web-1: start failed: nothing listens on 127\.0\.0\.1:\d+ after 1000 ms \(the app must listen on \$PORT; last output: "listening on \d+"\)$/,
    );
  });

  it('an app not listening at all: the same, naming the port env of the group', async (t) => {
    const provider = failing(t, {
      startTimeout: 500,
      portEnv: 'HTTP_PORT',
      env: { LISTEN_DELAY_MS: '60000' },
    });
    const error = firstStartError(provider);
    await provider.scaleTo(1);
    assert.match(
      await error,
      /^web-1: start failed: nothing listens on 127\.0\.0\.1:\d+ after 500 ms \(the app must listen on \$HTTP_PORT\)$/,
    );
  });

  // AbortSignal.timeout inside AbortSignal.any can be garbage-collected before it fires (Node 20):
  // the start timeout then never came, and an app that never listened stayed 'starting'.
  it('the start timeout fires even when garbage collection runs meanwhile', async (t) => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const provider = failing(t, { startTimeout: 300, env: { LISTEN_DELAY_MS: '60000' } });
    const error = firstStartError(provider);
    void provider.scaleTo(1);
    const collector = setInterval(gc, 20);
    // A fallback, not a timing assertion: without the fix no error ever comes (the app listens at 60 s).
    let guard: NodeJS.Timeout | undefined;
    const fallback = new Promise<string>((resolve) => {
      guard = setTimeout(() => resolve('no start failure within 15 s'), 15_000);
    });
    const first = await Promise.race([error, fallback]);
    clearInterval(collector);
    clearTimeout(guard);
    assert.match(first, /^web-1: start failed: nothing listens on 127\.0\.0\.1:\d+ after 300 ms/);
  });

  it('an app that listens but fails its health check: the status it answered', async (t) => {
    const provider = failing(t, { startTimeout: 1000, env: { HEALTH_STATUS: '503' } });
    const error = firstStartError(provider);
    await provider.scaleTo(1);
    assert.match(
      await error,
      /^web-1: start failed: listens on 127\.0\.0\.1:\d+ but \/healthz answered 503, not 2xx\/3xx, for 1000 ms \(last output: "listening on \d+"\)$/,
    );
  });

  const layout = detectCgroups();
  const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
  it('an instance OOM-killed in its cgroup is reported as such, with its limit', { skip }, async (t) => {
    const hungry = `"${process.execPath}" -e "globalThis.b = Buffer.alloc(48 * 1048576, 1); import(process.argv[1])" "${APP}"`;
    const provider = failing(t, { command: hungry }, { size: { memory: 32 * 1024 * 1024 } });
    const error = firstStartError(provider);
    await provider.scaleTo(1);
    assert.match(
      await error,
      // The app is the leader (exec'd): its SIGKILL, or a shell's 137 for it.
      /\((exit code 137|signal SIGKILL): killed by the kernel OOM killer at its memory limit of 32 MiB/,
    );
  });
});

// A controller restarted with another command or environment (how a reload says such a change takes
// effect) replaces the instances it adopts that still run the old one, one at a time, as a
// Deployment rolls pods of an older template. Before, with a state store, adopted instances kept the
// old command and environment for as long as they ran: only instances started later got the new one.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { LocalProviderConfig } from '../../src/config/types.js';
import { FileState } from '../../src/controller/state/index.js';
import { instanceSpec } from '../../src/providers/local/spec.js';
import { closeBeforeRemoval, makeProvider, tempDir, until } from './local-helpers.js';

/** versionOf reads APP_VERSION from the environment the instance's leader process runs with. */
function versionOf(pid: number): string | undefined {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return env.find((e) => e.startsWith('APP_VERSION='))?.slice('APP_VERSION='.length);
  } catch {
    return undefined;
  }
}

describe('local provider: a restart with another command or env', () => {
  it('replaces adopted instances of the old env one at a time; the same config replaces none', async (t) => {
    const dir = await tempDir(t, 'spec-restart');
    const state = new FileState({ path: join(dir, 'state.json') });
    closeBeforeRemoval(t, state);
    const controller = (version: string) =>
      makeProvider(t, { env: { APP_VERSION: version } }, { registry: state, logDir: dir });

    const first = controller('1');
    await first.start();
    await first.scaleTo(2);
    const old = first.instances().map((i) => i.id);
    assert.deepEqual(
      first.instances().map((i) => versionOf(i.pid!)),
      ['1', '1'],
    );
    await first.release();

    // Restarted with APP_VERSION=2: both adopted instances are replaced, never fewer than 2 ready.
    const second = controller('2');
    let minReady = Number.POSITIVE_INFINITY;
    let served = false;
    second.on('change', () => {
      const ready = second.instances().filter((i) => i.state === 'ready').length;
      if (ready >= 2) served = true;
      if (served) minReady = Math.min(minReady, ready);
    });
    await second.start();
    // The roll's first replacement may be listed already (starting, no process yet): after them.
    assert.deepEqual(
      second
        .instances()
        .slice(0, old.length)
        .map((i) => i.id),
      old,
      'adopted first',
    );
    await second.scaleTo(2);
    await until(
      second,
      () => {
        const live = second.instances();
        return (
          live.length === 2 &&
          live.every((i) => i.state === 'ready' && !old.includes(i.id) && versionOf(i.pid!) === '2')
        );
      },
      20_000,
    );
    assert.equal(minReady, 2, 'one at a time: each old instance stopped once its replacement was ready');
    const rolled = second.instances().map((i) => i.id);
    await second.release();

    // Restarted with the same config: the instances it adopts are current, none is replaced.
    const third = controller('2');
    await third.start();
    await third.scaleTo(2);
    await until(third, () => third.instances().every((i) => i.state === 'ready'));
    assert.deepEqual(
      third.instances().map((i) => i.id),
      rolled,
    );
    await third.scaleTo(0);
    await third.close();
  });

  it('instanceSpec changes with command, cwd, env, port_env and host, not with timeouts', () => {
    const base: LocalProviderConfig = {
      provider: 'local',
      command: 'node app.js',
      cwd: '/srv',
      portEnv: 'PORT',
      env: { A: '1', B: '2' },
      host: '127.0.0.1',
      startTimeout: 30_000,
      stopTimeout: 10_000,
      crashLoopLimit: 5,
      crashLoopWindow: 60_000,
    };
    const spec = instanceSpec(base);
    assert.equal(instanceSpec({ ...base, env: { B: '2', A: '1' } }), spec, 'env order does not matter');
    assert.equal(instanceSpec({ ...base, startTimeout: 5_000, stopTimeout: 1_000 }), spec);
    const changes: Partial<LocalProviderConfig>[] = [
      { command: 'node app2.js' },
      { cwd: '/srv2' },
      { env: { A: '1', B: '3' } },
      { env: { A: '1' } },
      { portEnv: 'HTTP_PORT' },
      { host: '::1' },
    ];
    for (const change of changes)
      assert.notEqual(instanceSpec({ ...base, ...change }), spec, JSON.stringify(change));
  });
});

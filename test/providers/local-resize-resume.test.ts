// A resize to the size already in force finishes a roll that a controller restart cut: the adopted
// instances already at the size stay, only those at another size are replaced (one at a time, each
// once its replacement is ready). Before, every instance was replaced, the new ones again too.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FileState } from '../../src/controller/state/index.js';
import { detectCgroups, type LocalProvider } from '../../src/providers/index.js';
import { makeProvider, SPIKY, until } from './local-helpers.js';

const layout = detectCgroups();
const skip = !layout || process.getuid?.() !== 0 ? 'needs cgroups (v1 or v2) writable by root' : false;
const MIB = 1024 * 1024;
const NEW = { memory: 256 * MIB };
// The app touches 48 MiB while it starts: OOM-killed under a 32 MiB limit.

describe('finishing a resize cut by a restart', { skip }, () => {
  it('replaces only the adopted instances not at the size in force', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-resize-resume-'));
    const state = new FileState({ path: join(dir, 'state.json') });
    const providers: LocalProvider[] = [];
    const controller = () => {
      const provider = makeProvider(t, {}, { registry: state, logDir: dir });
      providers.push(provider);
      return provider;
    };
    // Hooks run in the order they were added: the instances (and their log files) go first.
    t.after(async () => {
      for (const provider of providers) await provider.close();
      await state.close();
      await rm(dir, { recursive: true, force: true });
    });

    // The first controller is cut once the first replacement is ready.
    const first = controller();
    await first.start();
    await first.scaleTo(3);
    const rolling = first.resize(NEW);
    rolling.catch(() => {});
    await until(first, () =>
      first.instances().some((i) => i.size?.memory === NEW.memory && i.state === 'ready'),
    );
    await first.release();
    // An outdated instance it was draining finishes stopping, as decided while it led.
    await until(first, () => first.instances().length === 0);

    const second = controller();
    await second.start();
    const adopted = second.instances();
    const kept = adopted.filter((i) => i.size?.memory === NEW.memory).map((i) => i.pid);
    const stale = adopted.filter((i) => i.size?.memory !== NEW.memory).map((i) => i.pid);
    t.diagnostic(`adopted: ${adopted.map((i) => `${i.id}:${(i.size?.memory ?? 0) / MIB}Mi`).join(' ')}`);
    assert.ok(kept.length > 0 && stale.length > 0, 'a mix of sizes is adopted');
    assert.deepEqual(second.size(), NEW, 'the persisted size is in force');
    await until(second, () => second.instances().every((i) => i.state === 'ready'));
    const count = second.instances().length;
    let minReady = count;
    second.on('change', () => {
      minReady = Math.min(minReady, second.instances().filter((i) => i.state === 'ready').length);
    });

    await second.resize(second.size()!);

    const after = second.instances();
    assert.equal(after.length, count);
    assert.ok(
      after.every((i) => i.state === 'ready' && i.size?.memory === NEW.memory),
      JSON.stringify(after),
    );
    const pids = after.map((i) => i.pid);
    assert.deepEqual(
      kept.filter((pid) => pids.includes(pid)),
      kept,
      'the instances already at the size were kept',
    );
    assert.deepEqual(
      stale.filter((pid) => pids.includes(pid)),
      [],
      'the others were replaced',
    );
    assert.ok(minReady >= count, `ready instances fell to ${minReady} of ${count}`);
  });

  it('a finished roll that fails goes back to the size the outdated instances run with', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-resize-resume-'));
    const state = new FileState({ path: join(dir, 'state.json') });
    const providers: LocalProvider[] = [];
    const controller = () => {
      const provider = makeProvider(
        t,
        { command: SPIKY, crashLoopLimit: 2 },
        { registry: state, logDir: dir },
      );
      providers.push(provider);
      return provider;
    };
    t.after(async () => {
      for (const provider of providers) await provider.close();
      await state.close();
      await rm(dir, { recursive: true, force: true });
    });

    // Cut at once: the app cannot run in 32 MiB, but the first controller never found out.
    const first = controller();
    await first.start();
    await first.scaleTo(2);
    const rolling = first.resize({ memory: 32 * MIB });
    rolling.catch(() => {});
    await first.release();
    assert.deepEqual((await state.getSize('web'))?.size, { memory: 32 * MIB });

    const second = controller();
    await second.start();
    assert.deepEqual(second.size(), { memory: 32 * MIB });
    await assert.rejects(second.resize(second.size()!), { code: 'RESIZE_FAILED' });
    t.diagnostic(`size after the failed roll: ${JSON.stringify(second.size())}`);
    assert.equal(second.size(), undefined, 'back to the size the adopted instances run with (none)');
    assert.equal(await state.getSize('web'), undefined);
  });
});

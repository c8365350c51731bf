// On cgroup v1 the kernel refuses (EINVAL) a cpu.cfs_quota_us above the quota of the nearest
// ancestor that has one, where v2 takes the lesser of the two. So with Scaleplane itself under a CPU
// limit (a systemd unit's CPUQuota=100% on a v1 host, a container's --cpus), a resize to more CPU
// than that limit, or `resources: {cpu: 2}`, was refused as "needs cgroups writable by this process:
// … EINVAL …; run Scaleplane as root" though it ran as root with writable cgroups. Now the quota
// written is capped at the ancestor's, as v2 does: the outer limit applies, the resize rolls.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { removeCgroupDirsOnceEmpty } from '../../src/providers/local/cgroups.js';
import { detectCgroups, readLimits } from '../../src/providers/local/index.js';
import { makeProvider, recordingLogger } from './local-helpers.js';

const found = detectCgroups();
const skip = found?.version !== 'v1' || process.getuid?.() !== 0 ? 'needs cgroup v1, as root' : false;

/**
 * limitedRoot makes a cpu cgroup with a quota of `cores` (and a memory cgroup beside it) for a
 * provider to nest its instances under, as if Scaleplane ran in it, and a function that removes
 * them and all below (call it once the provider closed).
 */
function limitedRoot(cores: number): { cpuRoot: string; memoryRoot: string; remove(): Promise<void> } {
  if (found?.version !== 'v1') throw new Error('v1 only');
  const name = `scaleplane-test-ceiling-${randomBytes(3).toString('hex')}`;
  const cpuRoot = join(found.cpuRoot, name);
  const memoryRoot = join(found.memoryRoot, name);
  mkdirSync(cpuRoot);
  mkdirSync(memoryRoot);
  writeFileSync(join(cpuRoot, 'cpu.cfs_period_us'), '100000');
  writeFileSync(join(cpuRoot, 'cpu.cfs_quota_us'), String(cores * 100_000));
  const below = (dir: string): string[] =>
    existsSync(dir)
      ? [
          ...readdirSync(dir, { withFileTypes: true })
            .filter((entry) => entry.isDirectory())
            .flatMap((entry) => below(join(dir, entry.name))),
          dir,
        ]
      : [];
  // Deepest first; a cgroup whose last process still exits is tried again (EBUSY).
  const remove = async () => {
    const left = await removeCgroupDirsOnceEmpty([...below(cpuRoot), ...below(memoryRoot)]);
    assert.deepEqual(left, [], 'test cgroups left behind');
  };
  return { cpuRoot, memoryRoot, remove };
}

describe('local provider: a CPU size above the CPU limit Scaleplane runs under (cgroup v1)', { skip }, () => {
  it('is capped at that limit, as v2 does, and the resize rolls', async (t) => {
    const { remove, ...roots } = limitedRoot(1);
    const logger = recordingLogger();
    const provider = makeProvider(t, {}, { logger, cgroups: { version: 'v1', ...roots } });
    t.after(async () => {
      await provider.close();
      await remove();
    });
    await provider.scaleTo(1);
    assert.equal(provider.resizeRefusal({ cpu: 2 }), undefined, 'a resize to 2 cores is refused');
    await provider.resize({ cpu: 2 });
    const [instance] = provider.instances();
    assert.equal(instance?.state, 'ready');
    assert.deepEqual(instance?.size, { cpu: 2 });
    assert.equal(readLimits(instance!.pid!, 'v1').cpu, 1, 'its quota is not the limit above it');
    const own = readFileSync(`/proc/${instance!.pid}/cgroup`, 'utf8');
    assert.match(own, new RegExp(`:cpu:.*${roots.cpuRoot.split('/').at(-1)}/scaleplane/web/`));
    assert.ok(
      logger.lines.some((l) => l.level === 'warn' && /above the 1 core/.test(l.msg)),
      'the cap is not logged',
    );
    // One below the limit is written as asked.
    await provider.resize({ cpu: 0.5 });
    assert.equal(readLimits(provider.instances()[0]!.pid!, 'v1').cpu, 0.5);
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseSize } from '../../src/config/duration.js';
import { formatSize, planResizeResume } from '../../src/controller/resize-resume.js';
import type { Instance, InstanceSize, InstanceState } from '../../src/providers/index.js';

const MIB = 1024 * 1024;
const NEW: InstanceSize = { cpu: 0.5, memory: 256 * MIB };

function instance(id: string, state: InstanceState, size?: InstanceSize): Instance {
  return { id, group: 'web', address: '127.0.0.1:1', state, startedAt: 0, ...(size && { size }) };
}

describe('planResizeResume', () => {
  const cases: {
    name: string;
    instances: Instance[];
    size: InstanceSize | undefined;
    outdated: string[] | undefined;
  }[] = [
    { name: 'no size in force', instances: [instance('a', 'ready')], size: undefined, outdated: undefined },
    {
      name: 'every instance at the size',
      instances: [instance('a', 'ready', NEW), instance('b', 'starting', { ...NEW })],
      size: NEW,
      outdated: undefined,
    },
    {
      name: 'a cut roll: old and new sizes',
      instances: [
        instance('a', 'ready'),
        instance('b', 'ready', { memory: 128 * MIB }),
        instance('c', 'ready', NEW),
      ],
      size: NEW,
      outdated: ['a', 'b'],
    },
    {
      name: 'a field more or less is another size',
      instances: [instance('a', 'ready', { cpu: 0.5 }), instance('b', 'starting', NEW)],
      size: NEW,
      outdated: ['a'],
    },
    {
      name: 'instances going away do not count',
      instances: [
        instance('a', 'draining'),
        instance('b', 'stopping'),
        instance('c', 'failed'),
        instance('d', 'ready', NEW),
      ],
      size: NEW,
      outdated: undefined,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const plan = planResizeResume(c.instances, c.size);
      assert.deepEqual(plan?.outdated, c.outdated);
      if (plan) {
        assert.deepEqual(plan.size, c.size);
        assert.equal(
          plan.live,
          c.instances.filter((i) => i.state === 'ready' || i.state === 'starting').length,
        );
      }
    });
  }

  it('formatSize writes the fields as `scaleplane resize` takes them, memory in its binary unit', () => {
    // The journal said `memory=268435456` after `scaleplane resize web cpu=0.5,memory=256Mi`.
    const cases: [InstanceSize, string][] = [
      [NEW, 'cpu=0.5,memory=256Mi'],
      [{ memory: 2 * 2 ** 30 }, 'memory=2Gi'],
      [{ memory: 1536 * 2 ** 10 }, 'memory=1536Ki'],
      [{ memory: 100_000_000 }, 'memory=100000000'],
      [{ cpu: 2 }, 'cpu=2'],
    ];
    for (const [size, want] of cases) {
      const got = formatSize(size);
      assert.equal(got, want, `formatSize(${JSON.stringify(size)}) gave ${got}, wanted ${want}`);
      const memory = /memory=(\w+)/.exec(got)?.[1];
      if (memory !== undefined && size.memory !== undefined)
        assert.equal(parseSize(memory), size.memory, `${got} does not parse back to ${size.memory} bytes`);
    }
  });
});

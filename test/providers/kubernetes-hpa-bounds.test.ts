// hpaBounds: the HPA's minReplicas/maxReplicas for the configured bounds and the counts it must hold.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { hpaBounds } from '../../src/providers/kubernetes/hpa-bounds.js';

it('hpaBounds widens the configured bounds just enough to hold every count, minReplicas at least 1', () => {
  const cases = [
    { configured: { min: 1, max: 5 }, counts: [3], want: { min: 1, max: 5 }, why: 'inside: as configured' },
    {
      configured: { min: 1, max: 2 },
      counts: [4],
      want: { min: 1, max: 4 },
      why: 'max lowered below the replicas',
    },
    {
      configured: { min: 1, max: 2 },
      counts: [4, 2],
      want: { min: 1, max: 4 },
      why: 'and the scale-in about to be made',
    },
    {
      configured: { min: 4, max: 6 },
      counts: [2, 4],
      want: { min: 2, max: 6 },
      why: 'min raised above the replicas',
    },
    {
      configured: { min: 0, max: 3 },
      counts: [0],
      want: { min: 1, max: 3 },
      why: 'min_instances 0: the API refuses 0',
    },
    { configured: { min: 2, max: 8 }, counts: [], want: { min: 2, max: 8 }, why: 'no count' },
  ];
  for (const c of cases) assert.deepEqual(hpaBounds(c.configured, c.counts), c.want, c.why);
});

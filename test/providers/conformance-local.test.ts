import { readLimits } from '../../src/providers/index.js';
import { detectCgroups } from '../../src/providers/local/cgroups.js';
import { providerConformance } from './conformance.js';
import { makeProvider } from './local-helpers.js';

const layout = detectCgroups();
const canResize = layout !== undefined && process.getuid?.() === 0;

providerConformance('local', async (t) => ({
  // makeProvider closes it too; close is idempotent.
  provider: makeProvider(t),
  replaceKeepsCount: true,
  ...(canResize && {
    resizeTo: { cpu: 0.5, memory: 256 * 1024 * 1024 },
    // Read back from the cgroup files the instance's leader is in, not from what the provider says.
    sizeOf: (instance) => readLimits(instance.pid!, layout!.version),
  }),
}));

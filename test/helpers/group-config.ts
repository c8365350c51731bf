import type { GroupConfig } from '../../src/config/types.js';

/** groupConfig builds a complete GroupConfig for unit tests; override what the test is about. */
export function groupConfig(overrides: Partial<GroupConfig> = {}): GroupConfig {
  return {
    name: 'web',
    minInstances: 1,
    maxInstances: 5,
    initialInstances: 1,
    healthPath: '/healthz',
    role: 'service',
    provider: {
      provider: 'local',
      command: 'true',
      cwd: '/',
      portEnv: 'PORT',
      env: {},
      host: '127.0.0.1',
      startTimeout: 1000,
      stopTimeout: 1000,
      crashLoopLimit: 5,
      crashLoopWindow: 60_000,
    },
    ...overrides,
  };
}

/**
 * workerScaledOn is the YAML of a config whose one group, `workers` (role worker, max_instances 10),
 * is scaled on one metric, given as its list item (`nats: { url: …, target: 5 }`).
 */
export function workerScaledOn(metric: string): string {
  return [
    'groups:',
    '  workers:',
    '    role: worker',
    '    command: node worker.js',
    '    max_instances: 10',
    '    scaling:',
    '      metrics:',
    `        - ${metric}`,
    '',
  ].join('\n');
}

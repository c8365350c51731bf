// `cpu_initialization_period` and `initial_readiness_delay` of a Kubernetes group: the HPA's
// --horizontal-pod-autoscaler-cpu-initialization-period (5 min) and -initial-readiness-delay (30 s),
// per group. Before, both were fixed at those defaults: a group whose pods warm up in 10 minutes
// (or in 10 seconds) could not say so.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { describe, it } from 'node:test';
import { ConfigError, type ConfigIssue, parseConfig } from '../../src/config/index.js';
import { GroupReadings } from '../../src/metrics/group-readings.js';
import type { Instance, PodUsage } from '../../src/providers/types.js';

const KUBE = ['groups:', '  web:', '    provider: kubernetes', '    name: web', '    max_instances: 4'];
const yaml = (...more: string[]) => `${[...KUBE, ...more].join('\n')}\n`;
const CPU = ['    scaling:', '      metrics:', '        - cpu: { target: 50 }'];

function issuesOf(text: string): ConfigIssue[] {
  try {
    parseConfig(text, { baseDir: '/srv/app' });
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    return error.issues;
  }
  assert.fail('expected a ConfigError');
}

describe('config: cpu_initialization_period, initial_readiness_delay', () => {
  it("default to the HPA's 5 min and 30 s; set, they are ms", () => {
    const kube = (text: string) => parseConfig(text, { baseDir: '/srv/app' }).groups.web!.provider;
    assert.deepEqual(
      (({ cpuInitializationPeriod, initialReadinessDelay }) => ({
        cpuInitializationPeriod,
        initialReadinessDelay,
      }))(kube(yaml()) as { cpuInitializationPeriod?: number; initialReadinessDelay?: number }),
      { cpuInitializationPeriod: 300_000, initialReadinessDelay: 30_000 },
    );
    const set = kube(yaml('    cpu_initialization_period: 10m', '    initial_readiness_delay: 0s')) as {
      cpuInitializationPeriod?: number;
      initialReadinessDelay?: number;
    };
    assert.equal(set.cpuInitializationPeriod, 600_000, 'cpu_initialization_period: 10m');
    assert.equal(set.initialReadinessDelay, 0, 'initial_readiness_delay: 0s');
  });

  it('bad input is an error naming the field and its line', () => {
    for (const key of ['cpu_initialization_period', 'initial_readiness_delay'])
      for (const value of ['-5s', 'soon', '[]']) {
        const issues = issuesOf(yaml(`    ${key}: ${value}`));
        assert.deepEqual(
          issues.map(({ path, line }) => ({ path, line })),
          [{ path: `groups.web.${key}`, line: 6 }],
          `${key}: ${value} gave ${JSON.stringify(issues)}`,
        );
      }
  });

  it('belongs to kubernetes, and in mode: hpa is an error pointing at the controller manager flag', () => {
    const local = issuesOf('groups:\n  web:\n    command: node app.js\n    cpu_initialization_period: 1m\n');
    assert.deepEqual(
      local.map(({ path, message }) => ({ path, message })),
      [
        {
          path: 'groups.web.cpu_initialization_period',
          message: 'belongs to provider kubernetes, not local',
        },
      ],
    );
    const hpa = issuesOf(yaml('    mode: hpa', '    initial_readiness_delay: 10s', ...CPU));
    assert.deepEqual(
      hpa.map(({ path }) => path),
      ['groups.web.initial_readiness_delay'],
    );
    assert.match(hpa[0]!.message, /--horizontal-pod-autoscaler-initial-readiness-delay/);
  });
});

const started = (id: string): Instance => ({
  id,
  group: 'web',
  address: `10.0.0.${id.length}:8080`,
  state: 'ready',
  startedAt: 0,
});

describe('GroupReadings: a Kubernetes group reads CPU with its own start-up periods', () => {
  // A pod started 2 min ago, Ready for 100 s, sampled 10 s ago: inside the 5-min default it counts
  // only once a full window was sampled after Ready (it was), so it counts; but its Ready condition
  // flapped 5 s before the sample, so the sample straddles the flap: left out as start-up CPU.
  const usage = (now: number): PodUsage => ({
    id: 'web-1',
    cpu: 0.4,
    requests: { cpu: 0.5 },
    sampledAt: now - 10_000,
    windowMs: 15_000,
    pod: { phase: 'Running', startedAt: now - 120_000, ready: { status: 'True', since: now - 15_000 } },
  });

  async function cpuOf(text: string): Promise<{ values: readonly number[]; unready: number | undefined }> {
    const group = parseConfig(text, { baseDir: '/srv/app' }).groups.web!;
    const read = new EventEmitter();
    const readings = new GroupReadings({
      group,
      instances: () => [started('web-1')],
      sampleCpu: () => new Map(),
      sampleMemory: () => new Map(),
      memoryMaxAge: 10_000,
      readPodUsage: async () => {
        setImmediate(() => read.emit('read'));
        return [usage(Date.now())];
      },
      createSource: () => {
        throw new Error('no polled source here');
      },
      interval: 1000,
      onSourceError: () => {},
    });
    const answered = once(read, 'read');
    readings.sample(0);
    await answered;
    const [cpu] = readings.read([started('web-1')], 0);
    await readings.close();
    assert.equal(cpu?.error, undefined, `cpu read without error, got ${cpu?.error}`);
    return { values: cpu!.values, unready: cpu!.unready };
  }

  it("default 5 min: the 2-min-old pod's sample straddling Ready is start-up CPU, left out", async () => {
    const cpu = await cpuOf(yaml(...CPU));
    assert.deepEqual(cpu, { values: [], unready: 1 }, `got ${JSON.stringify(cpu)}`);
  });

  it('cpu_initialization_period: 1m: the 2-min-old Ready pod counts (80 % of its request)', async () => {
    const cpu = await cpuOf(yaml('    cpu_initialization_period: 1m', ...CPU));
    assert.deepEqual(cpu, { values: [80], unready: 0 }, `got ${JSON.stringify(cpu)}`);
  });
});

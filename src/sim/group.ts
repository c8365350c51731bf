/**
 * A configured group as the simulator replays it: its policy built by `groupPolicy`, the one the
 * live controller runs, fed the metrics the engine can make from demand (CPU, request rate).
 */
import type { Config, GroupConfig } from '../config/index.js';
import { type GroupTiming, groupPolicy, groupStartup } from '../policy/index.js';
import type { SimMetric } from './engine.js';
import type { PolicyReplay } from './experiment.js';

/** SimConfigErrorCode says why a configured group cannot be replayed. */
export type SimConfigErrorCode = 'SIM_UNKNOWN_GROUP' | 'SIM_NOT_SCALED' | 'SIM_UNSUPPORTED_METRIC';

/** SimConfigError is a configured group the simulator cannot replay; the message names the config path. */
export class SimConfigError extends Error {
  override readonly name = 'SimConfigError';
  readonly code: SimConfigErrorCode;
  constructor(code: SimConfigErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** ConfiguredGroup is a group and the timing its config gives it, ms. */
export interface ConfiguredGroup {
  group: GroupConfig;
  /** `controller.interval`. */
  interval: number;
  /** groupStartup: `scaling.startup`, else AWS `instance_warmup`, else DEFAULT_STARTUP. */
  startup: number;
}

/** configuredGroup finds `name` in a loaded config, or throws SimConfigError naming what is there. */
export function configuredGroup(
  config: Pick<Config, 'groups' | 'controller'>,
  name: string,
): ConfiguredGroup {
  const group = Object.hasOwn(config.groups, name) ? config.groups[name] : undefined;
  if (!group) {
    const known = Object.keys(config.groups);
    throw new SimConfigError(
      'SIM_UNKNOWN_GROUP',
      `groups.${name}: no such group (the config has ${known.length === 0 ? 'none' : known.join(', ')})`,
    );
  }
  if (!group.scaling) {
    throw new SimConfigError(
      'SIM_NOT_SCALED',
      `groups.${name}: no scaling section, the group is scaled by hand: nothing to replay`,
    );
  }
  return { group, interval: config.controller.interval, startup: groupStartup(group) };
}

/**
 * groupReplay is a group's policy (named `config:NAME`) and what it is fed: `cpu` as CPU at its
 * target averaged over the group's `metric_window`, `rps` as the group's request rate at its
 * per-instance target. Any other metric is not
 * made from demand here, so it throws SimConfigError naming its path.
 */
export function groupReplay(group: GroupConfig, timing: Required<GroupTiming>): PolicyReplay {
  const metrics = (group.scaling?.metrics ?? []).map((metric, i): SimMetric => {
    // CPU is read over `metric_window`, as live; the request rate over the last second, as the
    // balancer's rps source is polled.
    if (metric.type === 'cpu') {
      return {
        type: 'cpu',
        target: metric.target,
        window: Math.max(1, Math.round(group.scaling!.metricWindow / 1000)),
      };
    }
    if (metric.type === 'rps') return { type: 'rps', target: metric.target };
    throw new SimConfigError(
      'SIM_UNSUPPORTED_METRIC',
      `groups.${group.name}.scaling.metrics[${i}] (${metric.type}): the simulator models CPU and request rate (rps) only`,
    );
  });
  const policy = groupPolicy(group, timing);
  if (!policy || metrics.length === 0) {
    throw new SimConfigError('SIM_NOT_SCALED', `groups.${group.name}: no scaling metrics to replay`);
  }
  return { policy: { ...policy, name: `config:${group.name}` }, metrics };
}

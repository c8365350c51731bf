/**
 * What a config reload may change while Scaleplane runs, as a pure function of the running and the
 * newly loaded config. Listeners, the balancer, routes, the controller loop and providers are built
 * once at start: a change there is reported as needing a restart and the running value is kept.
 */
import { isDeepStrictEqual } from 'node:util';
import type { ApiConfig, Config, GroupConfig } from './types.js';

/** ReloadPlan says what a reload applies now, what waits for a restart, and the config that results. */
export interface ReloadPlan {
  /** YAML paths whose new values apply now, such as `groups.web.max_instances`. */
  applied: string[];
  /** YAML paths that changed but only take effect after a restart; their running values are kept. */
  needsRestart: string[];
  /** The running config with every applicable change taken from the new one. */
  config: Config;
}

/** RUNTIME_API_KEYS are the `api` keys a reload applies (tokens are re-read from token_file anyway). */
const RUNTIME_API_KEYS = [
  ['tokenFile', 'token_file'],
  ['publicMetrics', 'public_metrics'],
  ['authFailuresPerMinute', 'auth_failures_per_minute'],
  ['scaleRequestsPerMinute', 'scale_requests_per_minute'],
  ['maxStreamsPerToken', 'max_streams_per_token'],
  ['maxStreams', 'max_streams'],
] as const satisfies readonly (readonly [keyof ApiConfig, string])[];

/** RUNTIME_GROUP_KEYS are the keys of a group a reload applies. */
const RUNTIME_GROUP_KEYS = [
  ['minInstances', 'min_instances'],
  ['maxInstances', 'max_instances'],
  ['scaling', 'scaling'],
] as const satisfies readonly (readonly [keyof GroupConfig, string])[];

/**
 * planReload compares the running config with a validated new one. Applied: group bounds and
 * scaling policy, alerts, limits, API tokens and rate limits, public metrics. Everything else
 * (listeners, TLS, balancer, routes, controller, providers, a group's initial_instances, added or
 * removed groups, and any key not named here) needs a restart: a change is always in one list.
 */
export function planReload(running: Config, next: Config): ReloadPlan {
  const applied: string[] = [];
  const needsRestart: string[] = [];
  const changed = (a: unknown, b: unknown) => !isDeepStrictEqual(a, b);

  const api: ApiConfig = { ...running.api };
  for (const [key, yaml] of RUNTIME_API_KEYS) {
    if (!changed(running.api[key], next.api[key])) continue;
    applied.push(`api.${yaml}`);
    if (next.api[key] === undefined) delete api[key];
    else Object.assign(api, { [key]: next.api[key] });
  }
  // Every other `api` key (listen, tls, and any added later) is bound when the API starts.
  const runtimeApi = new Set<string>(RUNTIME_API_KEYS.map(([key]) => key));
  for (const key of new Set([...Object.keys(running.api), ...Object.keys(next.api)])) {
    const k = key as keyof ApiConfig;
    if (!runtimeApi.has(key) && changed(running.api[k], next.api[k]))
      needsRestart.push(`api.${snakeCase(key)}`);
  }

  if (changed(running.alerts, next.alerts)) applied.push('alerts');
  if (changed(running.limits, next.limits)) applied.push('limits');
  // Sections built once at start (balancer, routes, controller, and any added later) need a restart:
  // a changed key is never left out of both lists.
  const handled = new Set(['api', 'groups', 'alerts', 'limits', 'source']);
  for (const section of new Set([...Object.keys(running), ...Object.keys(next)])) {
    const k = section as keyof Config;
    if (!handled.has(section) && changed(running[k], next[k])) needsRestart.push(snakeCase(section));
  }

  const groups: Record<string, GroupConfig> = {};
  for (const [name, group] of Object.entries(running.groups)) {
    const incoming = next.groups[name];
    if (incoming === undefined) {
      needsRestart.push(`groups.${name} (removed)`);
      groups[name] = group;
      continue;
    }
    const merged: GroupConfig = { ...group };
    for (const [key, yaml] of RUNTIME_GROUP_KEYS) {
      if (!changed(group[key], incoming[key])) continue;
      applied.push(`groups.${name}.${yaml}`);
      if (incoming[key] === undefined) delete merged[key];
      else Object.assign(merged, { [key]: incoming[key] });
    }
    // initial_instances only matters when a group starts: a change waits for the next start, like a
    // restart-only key. By default it follows min_instances, whose change is applied (not reported twice).
    const followsMin = (g: GroupConfig) => g.initialInstances === g.minInstances;
    if (
      changed(group.initialInstances, incoming.initialInstances) &&
      !(followsMin(group) && followsMin(incoming))
    )
      needsRestart.push(`groups.${name}.initial_instances`);
    const runtime = new Set<string>([...RUNTIME_GROUP_KEYS.map(([key]) => key), 'initialInstances']);
    const keys = new Set([...Object.keys(group), ...Object.keys(incoming)]);
    for (const key of keys) {
      if (runtime.has(key)) continue;
      const k = key as keyof GroupConfig;
      if (changed(group[k], incoming[k])) needsRestart.push(`groups.${name}.${snakeCase(key)}`);
    }
    groups[name] = merged;
  }
  for (const name of Object.keys(next.groups))
    if (running.groups[name] === undefined) needsRestart.push(`groups.${name} (added)`);

  const { alerts: _alerts, limits: _limits, ...rest } = running;
  const config: Config = {
    ...rest,
    api,
    groups,
    ...(next.alerts === undefined ? {} : { alerts: next.alerts }),
    ...(next.limits === undefined ? {} : { limits: next.limits }),
  };
  return { applied, needsRestart, config };
}

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

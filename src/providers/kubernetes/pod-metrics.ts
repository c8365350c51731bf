/**
 * Pure parts of reading pods' CPU and memory from the resource metrics API (metrics.k8s.io/v1beta1
 * PodMetrics, served by metrics-server), the way the HPA reads a Resource metric: each pod's usage
 * (summed over its containers) beside its requests (summed over its containers).
 */
import type { PodUsage } from '../types.js';
import type { PodLike } from './pods.js';
import { quantityMemory } from './quantity.js';

/** PodMetricLike is the part of a metrics.k8s.io/v1beta1 PodMetrics the reading needs. */
export interface PodMetricLike {
  metadata?: { name?: string };
  containers?: { name?: string; usage?: Record<string, string | number> }[];
}

/** What a 404 of metrics.k8s.io means, and what to install. */
export const METRICS_SERVER_MISSING =
  'the resource metrics API metrics.k8s.io/v1beta1 is not served (404): install metrics-server ' +
  '(kubectl apply -f https://github.com/kubernetes-sigs/metrics-server/releases/latest/download/components.yaml), ' +
  'which the HPA reads CPU and memory from too';

/** Divisors of CPU suffixes: dividing keeps `150000000n` at 0.15 exactly (× 1e-9 is 0.15000000000000002). */
const CPU_PER_CORE: Record<string, number> = { n: 1e9, u: 1e6, m: 1e3, '': 1 };

/**
 * usageCpu parses a CPU quantity into cores, including the nano- and microcores metrics-server
 * reports usage in (`123456n`, `12u`), which `quantityCpu` (for specs: `500m`, `2`) has no need of.
 */
export function usageCpu(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(n|u|m)?$/.exec(String(value).trim());
  if (!match) return undefined;
  return Number(match[1]) / CPU_PER_CORE[match[2] ?? '']!;
}

/**
 * requestsOf sums a pod's containers' requests of `resource`, as the HPA does; a container without
 * one makes the sum undefined (HPA: "missing request for cpu in container app of Pod web-1"), which
 * is returned as the reason instead.
 */
function requestsOf(pod: PodLike, resource: 'cpu' | 'memory'): number | string {
  let sum = 0;
  for (const c of pod.spec?.containers ?? []) {
    const raw = c.resources?.requests?.[resource];
    const value = resource === 'cpu' ? usageCpu(raw) : quantityMemory(raw);
    if (value === undefined)
      return `missing request for ${resource} in container ${c.name} of Pod ${pod.metadata?.name}`;
    sum += value;
  }
  return sum;
}

/**
 * podUsages pairs each pod that has a PodMetrics with its usage and requests. A pod without one (a
 * new pod metrics-server has not scraped yet, one it failed to scrape) has no entry: the HPA's
 * missing pod.
 */
export function podUsages(pods: Iterable<PodLike>, metrics: readonly PodMetricLike[]): PodUsage[] {
  const byName = new Map(metrics.map((m) => [m.metadata?.name, m]));
  const usages: PodUsage[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name;
    const metric = name === undefined ? undefined : byName.get(name);
    if (!name || !metric) continue;
    let cpu = 0;
    let memory = 0;
    for (const c of metric.containers ?? []) {
      cpu += usageCpu(c.usage?.cpu) ?? Number.NaN;
      memory += quantityMemory(c.usage?.memory) ?? Number.NaN;
    }
    const cpuRequest = requestsOf(pod, 'cpu');
    const memoryRequest = requestsOf(pod, 'memory');
    usages.push({
      id: name,
      // A quantity it could not parse leaves the pod without that usage (missing), never 0.
      ...(Number.isFinite(cpu) && { cpu }),
      ...(Number.isFinite(memory) && { memory }),
      requests: {
        cpu: typeof cpuRequest === 'number' ? cpuRequest : undefined,
        memory: typeof memoryRequest === 'number' ? memoryRequest : undefined,
      },
      ...((typeof cpuRequest === 'string' || typeof memoryRequest === 'string') && {
        missingRequest: {
          ...(typeof cpuRequest === 'string' && { cpu: cpuRequest }),
          ...(typeof memoryRequest === 'string' && { memory: memoryRequest }),
        },
      }),
    });
  }
  return usages;
}

/**
 * Pure parts of reading pods' CPU and memory from the resource metrics API (metrics.k8s.io/v1beta1
 * PodMetrics, served by metrics-server), the way the HPA reads a Resource metric: each pod's usage
 * (summed over its containers) beside its requests (its app containers' and sidecars', or the pod-level ones).
 */
import type { PodUsage } from '../types.js';
import { type ContainerLike, epoch, type PodLike } from './pods.js';
import { quantityMemory } from './quantity.js';

/** PodMetricLike is the part of a metrics.k8s.io/v1beta1 PodMetrics the reading needs. */
export interface PodMetricLike {
  metadata?: { name?: string };
  /** When metrics-server's later sample of the pod was taken (RFC 3339). */
  timestamp?: string;
  /** The span between its two samples, a Go duration (`15s`, `14.982s`, `1m0s`). */
  window?: string;
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

const DURATION_UNIT_MS: Record<string, number> = {
  h: 3_600_000,
  m: 60_000,
  s: 1000,
  ms: 1,
  us: 1e-3,
  µs: 1e-3,
  ns: 1e-6,
};

/** goDuration parses a Go duration (`15s`, `1m0s`, `150ms`) into ms; undefined when malformed. */
export function goDuration(text: string | undefined): number | undefined {
  if (text === undefined || !/^(?:\d+(?:\.\d+)?(?:h|ms|us|µs|ns|m|s))+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)/g))
    ms += Number(n) * DURATION_UNIT_MS[unit!]!;
  return ms;
}

/**
 * quantityOf parses a quantity of `resource` in the units the HPA sums: whole millicores for cpu
 * (`MilliValue`, rounded up: `150000001n` is 151m), bytes for memory. Summing integers, 200m + 100m
 * is 300m, where 0.2 + 0.1 cores is 0.30000000000000004.
 */
function quantityOf(resource: 'cpu' | 'memory', raw: string | number | undefined): number | undefined {
  if (resource === 'memory') return quantityMemory(raw);
  const cores = usageCpu(raw);
  // Rounded to whole nanocores first: a float's noise must not round 150m up to 151m.
  return cores === undefined ? undefined : Math.ceil(Math.round(cores * 1e9) / 1e6);
}

/** inUnits turns a sum of `quantityOf` back into the PodUsage's unit: cores for cpu, bytes for memory. */
function inUnits(resource: 'cpu' | 'memory', sum: number): number {
  return resource === 'cpu' ? sum / 1000 : sum;
}

/** isSidecar: an init container with `restartPolicy: Always` runs beside the app containers. */
function isSidecar(c: { restartPolicy?: string }): boolean {
  return c.restartPolicy === 'Always';
}

/**
 * requestsOf is a pod's request of `resource` as the HPA's calculateRequests
 * (pkg/controller/podautoscaler/replica_calculator.go) computes it, or why it has none, in the
 * HPA's words:
 * - pod-level requests set (`spec.resources.requests` of cpu or memory, KEP-2837): the pod's
 *   `PodRequests` (pkg/api/v1/resource/helpers.go): the pod-level value, plus `spec.overhead`
 *   ("missing pod-level request for cpu in Pod web-1" when neither it nor a container states one);
 * - else the sum over the app containers and the sidecars (init containers with
 *   `restartPolicy: Always`, which run, and which metrics-server measures, beside them); one of
 *   them without a request: "missing request for cpu in container app of Pod web-1". Plain init
 *   containers have ended before the pod runs: neither their usage nor their requests count.
 */
export function requestsOf(pod: PodLike, resource: 'cpu' | 'memory'): number | string {
  const name = pod.metadata?.name;
  const containers = pod.spec?.containers ?? [];
  const inits = pod.spec?.initContainers ?? [];
  const podLevel = pod.spec?.resources?.requests ?? {};
  if (podLevel.cpu !== undefined || podLevel.memory !== undefined) {
    let request = quantityOf(resource, podLevel[resource]);
    if (request === undefined) {
      // Only the other resource is set at pod level: this one is the containers' aggregate, as
      // AggregateContainerRequests sums it (a container without one adds nothing), at least the
      // largest plain init container with the sidecars started before it.
      const sum = (list: readonly ContainerLike[]) =>
        list.reduce((total, c) => total + (quantityOf(resource, c.resources?.requests?.[resource]) ?? 0), 0);
      const stated = [...containers, ...inits].some((c) => c.resources?.requests?.[resource] !== undefined);
      if (stated) {
        request = sum([...containers, ...inits.filter(isSidecar)]);
        inits.forEach((c, i) => {
          if (isSidecar(c)) return;
          request = Math.max(request!, sum([c, ...inits.slice(0, i).filter(isSidecar)]));
        });
      }
    }
    if (request === undefined) return `missing pod-level request for ${resource} in Pod ${name}`;
    return inUnits(resource, request + (quantityOf(resource, pod.spec?.overhead?.[resource]) ?? 0));
  }
  let sum = 0;
  for (const c of [...containers, ...inits.filter(isSidecar)]) {
    const value = quantityOf(resource, c.resources?.requests?.[resource]);
    if (value === undefined) return `missing request for ${resource} in container ${c.name} of Pod ${name}`;
    sum += value;
  }
  return inUnits(resource, sum);
}

/**
 * usageOf sums a PodMetrics' usage of `resource` over all its containers, as the HPA's
 * getPodMetrics (pkg/controller/podautoscaler/metrics/client.go) does: a PodMetrics without
 * containers, or with one lacking the resource (or unparsable), is no measurement (missing).
 */
function usageOf(metric: PodMetricLike, resource: 'cpu' | 'memory'): number | undefined {
  const containers = metric.containers ?? [];
  if (containers.length === 0) return undefined;
  let sum = 0;
  for (const c of containers) {
    const value = quantityOf(resource, c.usage?.[resource]);
    if (value === undefined) return undefined;
    sum += value;
  }
  return inUnits(resource, sum);
}

/**
 * podUsages pairs each pod with its usage and requests. A pod without a PodMetrics (a new pod
 * metrics-server has not scraped yet, one it failed to scrape) has an entry without usage: the
 * HPA's missing pod, whose requests still count: the HPA computes every listed pod's requests and
 * fails the metric on one without (calculateRequests over the whole pod list).
 */
export function podUsages(pods: Iterable<PodLike>, metrics: readonly PodMetricLike[]): PodUsage[] {
  const byName = new Map(metrics.map((m) => [m.metadata?.name, m]));
  const usages: PodUsage[] = [];
  for (const pod of pods) {
    const name = pod.metadata?.name;
    if (!name) continue;
    const metric = byName.get(name);
    const cpu = metric && usageOf(metric, 'cpu');
    const memory = metric && usageOf(metric, 'memory');
    const cpuRequest = requestsOf(pod, 'cpu');
    const memoryRequest = requestsOf(pod, 'memory');
    const sampledAt = epoch(metric?.timestamp);
    const windowMs = goDuration(metric?.window);
    const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
    const readySince = epoch(ready?.lastTransitionTime);
    const startedAt = epoch(pod.status?.startTime);
    usages.push({
      id: name,
      ...(sampledAt !== undefined && { sampledAt }),
      ...(windowMs !== undefined && { windowMs }),
      // What the HPA's groupPods weighs a CPU sample by (cpuSampleUnready in metrics/pod-usage.ts).
      pod: {
        ...(pod.status?.phase !== undefined && { phase: pod.status.phase }),
        ...(startedAt !== undefined && { startedAt }),
        ...(ready && {
          ready: { status: ready.status, ...(readySince !== undefined && { since: readySince }) },
        }),
      },
      // A quantity it could not parse leaves the pod without that usage (missing), never 0.
      ...(cpu !== undefined && { cpu }),
      ...(memory !== undefined && { memory }),
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

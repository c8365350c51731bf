import { formatAddress, type Instance, type InstanceState } from '../types.js';
import { quantityCpu, quantityMemory } from './quantity.js';

/** ContainerLike is the part of a core/v1 Container the provider reads. */
export interface ContainerLike {
  name: string;
  resources?: {
    limits?: Record<string, string | number>;
    requests?: Record<string, string | number>;
  };
}

/** PodLike is the part of a core/v1 Pod the provider reads. */
export interface PodLike {
  metadata?: {
    name?: string;
    uid?: string;
    annotations?: Record<string, string>;
    deletionTimestamp?: Date | string;
    creationTimestamp?: Date | string;
  };
  spec?: {
    containers?: ContainerLike[];
    /** Init containers; one with `restartPolicy: Always` is a sidecar, running beside the app. */
    initContainers?: (ContainerLike & { restartPolicy?: string })[];
    /** Pod-level resources (KEP-2837, PodLevelResources): cpu/memory for the pod as a whole. */
    resources?: { requests?: Record<string, string | number> };
    /** The RuntimeClass's per-pod overhead, added to pod-level requests (PodRequests). */
    overhead?: Record<string, string | number>;
  };
  status?: {
    phase?: string;
    podIP?: string;
    /** When the kubelet acknowledged the pod (before its images were pulled): the HPA's start. */
    startTime?: Date | string;
    conditions?: {
      type: string;
      status: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: Date | string;
    }[];
  };
}

/** epoch is a Kubernetes timestamp in ms since the epoch; undefined when absent or malformed. */
export function epoch(value: Date | string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = new Date(value).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/** podState maps a pod to an instance state: terminating → stopping, Ready → ready, Failed → failed. */
export function podState(pod: PodLike): InstanceState {
  if (pod.metadata?.deletionTimestamp) return 'stopping';
  const phase = pod.status?.phase;
  if (phase === 'Failed') return 'failed';
  if (phase === 'Succeeded') return 'stopped';
  const ready = pod.status?.conditions?.find((c) => c.type === 'Ready');
  return phase === 'Running' && ready?.status === 'True' ? 'ready' : 'starting';
}

/**
 * podInstance is the pure mapping of a pod to an Instance (`podIP:port`), or undefined while it
 * has no IP yet (nothing could connect to it).
 */
export function podInstance(
  pod: PodLike,
  group: string,
  port: number,
  container?: string,
): Instance | undefined {
  const ip = pod.status?.podIP;
  const name = pod.metadata?.name;
  if (!ip || !name) return undefined;
  const state = podState(pod);
  const c = pod.spec?.containers?.find((x) => container === undefined || x.name === container);
  const cpu = quantityCpu(c?.resources?.limits?.cpu);
  const memory = quantityMemory(c?.resources?.limits?.memory);
  const readyAt = epoch(
    pod.status?.conditions?.find((x) => x.type === 'Ready' && x.status === 'True')?.lastTransitionTime,
  );
  return Object.freeze({
    id: name,
    group,
    address: formatAddress(ip, port),
    state,
    startedAt: epoch(pod.metadata?.creationTimestamp) ?? 0,
    ...(state === 'ready' && readyAt !== undefined && { readyAt }),
    ...((cpu !== undefined || memory !== undefined) && {
      size: { ...(cpu !== undefined && { cpu }), ...(memory !== undefined && { memory }) },
    }),
  });
}

/** LabelSelectorLike is a workload's `spec.selector` (meta/v1 LabelSelector). */
export interface LabelSelectorLike {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: string; values?: string[] }[];
}

/**
 * labelSelector renders a workload's whole `spec.selector` as the `labelSelector` query parameter,
 * as `metav1.LabelSelectorAsSelector` does: `matchLabels` as `a=b`, then each of `matchExpressions`
 * as `k in (x,y)`, `k notin (x,y)`, `k` (Exists) or `!k` (DoesNotExist). Before, only `matchLabels`
 * was sent, so pods a `NotIn` excludes (a canary sharing `app=web`) were counted as the workload's,
 * and a selector of expressions alone failed the start. Empty for an empty selector.
 */
export function labelSelector(selector: LabelSelectorLike): string {
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = (e.values ?? []).join(',');
    if (e.operator === 'In') parts.push(`${e.key} in (${values})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${values})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else
      throw new Error(`spec.selector.matchExpressions: unknown operator "${e.operator}" for key "${e.key}"`);
  }
  return parts.join(',');
}

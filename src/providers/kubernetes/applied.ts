/** The annotation `kubectl apply` (client-side) keeps the last applied manifest in. */
export const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** WorkloadMeta is the part of a Deployment or StatefulSet `appliedReplicas` reads. */
export interface WorkloadMeta {
  metadata?: {
    annotations?: Record<string, string>;
    managedFields?: { manager?: string; operation?: string; fieldsV1?: unknown }[];
  };
}

/**
 * appliedReplicas says who sets `spec.replicas` from a manifest, if anyone: a server-side apply
 * whose field manager owns `f:spec.f:replicas` (Argo CD, Flux, `kubectl apply --server-side`), or a
 * client-side `kubectl apply` whose last applied manifest has `spec.replicas`. Each such apply sets
 * the replicas back to the manifest's over any autoscaler's, as the Kubernetes HPA docs warn
 * ("remove spec.replicas from the manifest"). Undefined when no manifest holds them. Pure.
 */
export function appliedReplicas(workload: WorkloadMeta): string | undefined {
  for (const f of workload.metadata?.managedFields ?? []) {
    const spec = (f.fieldsV1 as Record<string, Record<string, unknown> | undefined> | undefined)?.['f:spec'];
    if (f.operation === 'Apply' && spec && 'f:replicas' in spec)
      return `field manager "${f.manager ?? '?'}" (server-side apply) owns spec.replicas`;
  }
  const text = workload.metadata?.annotations?.[LAST_APPLIED];
  if (!text) return undefined;
  try {
    const replicas = (JSON.parse(text) as { spec?: { replicas?: unknown } }).spec?.replicas;
    if (replicas !== undefined)
      return `the manifest last applied by kubectl (annotation ${LAST_APPLIED}) sets spec.replicas: ${JSON.stringify(replicas)}`;
  } catch {
    // Not JSON: nothing to tell from it.
  }
  return undefined;
}

export { type ApiStatus, apiErrorText, apiStatus, retryAfterMs } from './api-error.js';
export { appliedReplicas, LAST_APPLIED, type WorkloadMeta } from './applied.js';
export { type KubeConfigSource, kubeConfigSource, loadKubeConfig } from './kubeconfig.js';
export { dns1123LabelIssue, dns1123SubdomainIssue } from './names.js';
export { type LabelSelectorLike, labelSelector, type PodLike, podInstance, podState } from './pods.js';
export {
  DEPLOYMENT_ROLL_ANNOTATION,
  KubernetesProvider,
  type KubernetesProviderOptions,
  ROLL_ANNOTATION,
} from './provider.js';
export { formatCpu, formatMemory, quantityCpu, quantityMemory } from './quantity.js';
export { rewatchBackoff, type WatchStatus, watchFailure } from './rewatch.js';

/**
 * What the Kubernetes provider needs of the API server's version, and what a too-old one lacks, so
 * a start against it fails naming both instead of with a 404 from deep inside a scale-in or an HPA
 * write. Kubernetes' own support: each need below is the release its API or feature became
 * generally served (https://kubernetes.io/docs/reference/using-api/deprecation-guide/).
 */

/** VersionInfo is the part of `GET /version` (apimachinery version.Info) read here. */
export interface VersionInfo {
  major?: string;
  /** A managed cluster may add a `+` (`"21+"` on EKS and GKE). */
  minor?: string;
  gitVersion?: string;
}

/** A Need is one API or feature the provider uses and the minor release of 1.x that serves it. */
interface Need {
  minor: number;
  what: string;
}

/** CONTROLLER_NEEDS are what `mode: controller` uses (scale-in, replacement). */
const CONTROLLER_NEEDS: readonly Need[] = [
  {
    minor: 22,
    what: 'policy/v1 Eviction (a replacement evicts through it, honouring PodDisruptionBudgets)',
  },
  {
    minor: 22,
    what: 'the controller.kubernetes.io/pod-deletion-cost annotation (on by default from 1.22; a scale-in has the ReplicaSet remove the pods it drained through it, and older ones remove others, undrained)',
  },
];

/** HPA_NEEDS are what `mode: hpa` uses besides: it writes an autoscaling/v2 HPA. */
const HPA_NEEDS: readonly Need[] = [
  { minor: 23, what: 'autoscaling/v2 HorizontalPodAutoscaler (mode: hpa writes one)' },
];

/**
 * versionProblem says what the API server of `info` lacks for `mode`, naming its version and each
 * missing API or feature, or undefined when it has all (or its version cannot be read: a server
 * that does not say is given the benefit of the doubt, and any call that fails says so itself).
 */
export function versionProblem(info: VersionInfo, mode: 'controller' | 'hpa'): string | undefined {
  const major = Number.parseInt(info.major ?? '', 10);
  const minor = Number.parseInt(info.minor ?? '', 10);
  if (!Number.isSafeInteger(major) || !Number.isSafeInteger(minor)) return undefined;
  if (major !== 1) return undefined;
  const needs = mode === 'hpa' ? [...CONTROLLER_NEEDS, ...HPA_NEEDS] : CONTROLLER_NEEDS;
  const missing = needs.filter((n) => minor < n.minor);
  if (missing.length === 0) return undefined;
  const oldest = Math.max(...missing.map((n) => n.minor));
  const version = info.gitVersion ?? `v${major}.${info.minor}`;
  return `Kubernetes ${version} is older than 1.${oldest}, the oldest that mode: ${mode} supports: it lacks ${missing
    .map((n) => `${n.what} (1.${n.minor})`)
    .join('; ')}; upgrade the cluster${mode === 'hpa' && minor >= 22 ? ', or use mode: controller' : ''}`;
}

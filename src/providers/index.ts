import type { GroupConfig } from '../config/types.js';
import { AwsProvider, type AwsProviderOptions } from './aws/index.js';
import { ProviderError } from './errors.js';
import { KubernetesProvider, type KubernetesProviderOptions } from './kubernetes/index.js';
import { LocalProvider, type LocalProviderOptions } from './local/index.js';
import { autoscalerSpec, type Provider } from './types.js';

export {
  AwsProvider,
  type AwsProviderOptions,
  type AwsReplacementPlan,
  planStopStart,
  refreshHealthyFloor,
  refreshMaxHealthyPercentage,
  refreshMinHealthyPercentage,
} from './aws/index.js';
export { BusyError, InstanceError, ProviderError, type ProviderErrorCode } from './errors.js';
export { type FenceCheck, FencedProvider } from './fenced.js';
export {
  KubernetesProvider,
  type KubernetesProviderOptions,
  podInstance,
  quantityCpu,
  quantityMemory,
} from './kubernetes/index.js';
export {
  type CgroupLayout,
  CpuSampler,
  type CpuSamplerOptions,
  configSecretEnv,
  detectCgroups,
  type LocalInstanceRecord,
  type LocalInstanceRegistry,
  LocalProvider,
  type LocalProviderLogger,
  type LocalProviderOptions,
  type MemoryReading,
  MemorySampler,
  type MemorySamplerOptions,
  type ProcStat,
  parseProcStat,
  probeHttp,
  processStartTime,
  type RestartBackoff,
  readLimits,
  type SavedSize,
  sameSize,
  validateSize,
} from './local/index.js';
export {
  type EngineReplacePlan,
  planEngineReplace,
} from './replace-plan.js';
export type {
  AutoscalerSpec,
  DrainHook,
  EngineAutoscaler,
  EngineScaling,
  Instance,
  InstanceSize,
  InstanceState,
  OperationOutcome,
  PodUsage,
  Provider,
  ProviderEvents,
  ReplaceResult,
  ResizeOptions,
} from './types.js';
export { autoscalerSpec, formatAddress, watchInstances } from './types.js';

/**
 * CreateProviderOptions are the runtime hooks a provider gets besides its group's config; every
 * provider accepts them and ignores those it does not use.
 */
export type CreateProviderOptions = Omit<LocalProviderOptions, 'group' | 'config' | 'healthPath'> &
  Pick<KubernetesProviderOptions, 'client'> &
  Pick<AwsProviderOptions, 'clients'>;

/** createProvider builds the provider a group's config names (`provider: local`, `kubernetes`, `aws`). */
export function createProvider(group: GroupConfig, options: CreateProviderOptions = {}): Provider {
  const config = group.provider;
  const size = group.resources;
  switch (config.provider) {
    case 'local':
      return new LocalProvider({
        ...options,
        group: group.name,
        config,
        healthPath: group.healthPath,
        ...(size && (size.cpu !== undefined || size.memory !== undefined) && options.size === undefined
          ? {
              size: {
                ...(size.cpu !== undefined && { cpu: size.cpu }),
                ...(size.memory !== undefined && { memory: size.memory }),
              },
            }
          : {}),
      });
    case 'kubernetes':
      return new KubernetesProvider({
        group: group.name,
        config,
        minInstances: group.minInstances,
        maxInstances: group.maxInstances,
        // The HPA's cpu target (config refuses other metrics in mode: hpa) and its spec.behavior
        // (config refuses what an HPA cannot carry in mode: hpa).
        ...autoscalerSpec(group.scaling),
        ...(config.scaleTimeout !== undefined && { timeout: config.scaleTimeout }),
        ...(options.logger && { logger: options.logger }),
        ...(options.drain && { drain: options.drain }),
        ...(options.client && { client: options.client }),
        ...(options.fence && { fence: options.fence }),
      });
    case 'aws':
      return new AwsProvider({
        group: group.name,
        config,
        minInstances: group.minInstances,
        maxInstances: group.maxInstances,
        ...(options.logger && { logger: options.logger }),
        ...(options.clients && { clients: options.clients }),
        ...(options.drain && { drain: options.drain }),
        ...(options.now && { now: options.now }),
        ...(options.fence && { fence: options.fence }),
        ...(config.scaleTimeout !== undefined && { timeout: config.scaleTimeout }),
      });
    default: {
      const kind: string = (config as { provider: string }).provider;
      throw new ProviderError('UNKNOWN_PROVIDER', `group ${group.name}: unknown provider ${kind}`);
    }
  }
}

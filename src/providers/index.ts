import type { GroupConfig } from '../config/types.js';
import { ProviderError } from './errors.js';
import { LocalProvider, type LocalProviderOptions } from './local/index.js';
import type { Provider } from './types.js';

export { InstanceError, ProviderError, type ProviderErrorCode } from './errors.js';
export {
  CpuSampler,
  type CpuSamplerOptions,
  LocalProvider,
  type LocalProviderLogger,
  type LocalProviderOptions,
  type ProcStat,
  parseProcStat,
  type RestartBackoff,
} from './local/index.js';
export type { DrainHook, Instance, InstanceState, Provider, ProviderEvents } from './types.js';

/**
 * CreateProviderOptions are the runtime hooks a provider gets besides its group's config; every
 * provider accepts them and ignores those it does not use.
 */
export type CreateProviderOptions = Omit<LocalProviderOptions, 'group' | 'config' | 'healthPath'>;

/** createProvider builds the provider a group's config names (`provider: local`, …). */
export function createProvider(group: GroupConfig, options: CreateProviderOptions = {}): Provider {
  const config = group.provider;
  switch (config.provider) {
    case 'local':
      return new LocalProvider({ ...options, group: group.name, config, healthPath: group.healthPath });
    default: {
      const kind: string = (config as { provider: string }).provider;
      throw new ProviderError('UNKNOWN_PROVIDER', `group ${group.name}: unknown provider ${kind}`);
    }
  }
}

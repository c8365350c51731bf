export {
  CpuSampler,
  type CpuSamplerOptions,
  clockTicksPerSecond,
  cpuPercent,
  groupTicks,
  type ProcStat,
  parseProcStat,
  readProcTable,
} from './cpu.js';
export {
  LocalProvider,
  type LocalProviderLogger,
  type LocalProviderOptions,
  type RestartBackoff,
} from './provider.js';

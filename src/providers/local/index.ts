export {
  abandonedCgroup,
  type CgroupLayout,
  type CpuCeiling,
  cpuCeiling,
  cpuWeight,
  createInstanceCgroup,
  detectCgroups,
  limitWrites,
  parseProcCgroup,
  readLimits,
  rebalanceCpuWeights,
  sumChildWeights,
} from './cgroups.js';
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
export { configSecretEnv } from './env.js';
export {
  cgroupWorkingSet,
  groupAnonBytes,
  groupRss,
  type InstanceCgroupPath,
  type InstanceUsage,
  instanceCgroupPath,
  type MemoryReading,
  MemorySampler,
  type MemorySamplerOptions,
  memoryLimitRefusal,
  parseMemoryStat,
  parsePssAnon,
  parseRssAnon,
  parseVmRss,
  workingSetBytes,
} from './memory.js';
export { localPorts, lostItsPort, type PortFinder, PortReservations, saysAddressInUse } from './ports.js';
export {
  type LocalInstanceRecord,
  type LocalInstanceRegistry,
  LocalProvider,
  type LocalProviderLogger,
  type LocalProviderOptions,
  processStartTime,
  type RestartBackoff,
  type SavedSize,
  sameSize,
  validateSize,
} from './provider.js';
export { probeHttp } from './system.js';

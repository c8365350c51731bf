export { ProcessCpuWindow, type SampleCpu } from './process-cpu.js';
export { createMetrics, type ScaleplaneMetrics } from './registry.js';

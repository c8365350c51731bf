export { createMetrics, type ScaleplaneMetrics } from './registry.js';

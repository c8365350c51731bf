export { buildDemand, type Demand, type DemandOptions, parseWorkload } from './demand.js';
export {
  OVERLOAD,
  oracle,
  presetMetrics,
  type SimMetric,
  type SimOptions,
  type SimResult,
  simulate,
  type TimelineSink,
} from './engine.js';
export {
  type ExperimentOptions,
  type ExperimentRow,
  type PolicyReplay,
  runExperiment,
} from './experiment.js';
export {
  type ConfiguredGroup,
  configuredGroup,
  groupReplay,
  SimConfigError,
  type SimConfigErrorCode,
} from './group.js';
export { type PlotSeries, renderSvg } from './plot.js';
export { PNG_FONT_FAMILY, svgToPng } from './png.js';
export { toReplaySeries } from './replay-series.js';
export { readTrace } from './trace-file.js';

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
export { type CsvTraceOptions, parseCsvTrace, parseTraceTime, type TimeKind } from './trace-csv.js';
export { readTrace, type Trace, type TraceSource } from './trace-file.js';
export {
  DEFAULT_MAX_GAP_S,
  formatSeconds,
  type HoldOptions,
  holdSamples,
  MAX_TRACE_SECONDS,
  type TimedTrace,
  TraceError,
  type TracePoint,
} from './trace-points.js';
export {
  fetchPrometheusTrace,
  PROMETHEUS_MAX_POINTS,
  type PrometheusTraceOptions,
} from './trace-prometheus.js';

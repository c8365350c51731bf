export { buildDemand, type Demand, type DemandOptions, parseWorkload } from './demand.js';
export { OVERLOAD, oracle, type SimOptions, type SimResult, simulate, type TimelineSink } from './engine.js';
export { type ExperimentOptions, type ExperimentRow, runExperiment } from './experiment.js';
export { type PlotSeries, renderSvg } from './plot.js';
export { PNG_FONT_FAMILY, svgToPng } from './png.js';
export { toReplaySeries } from './replay-series.js';
export { readTrace } from './trace-file.js';

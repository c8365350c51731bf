// The simulate tool's process: reads one request from its parent over IPC, runs the experiment and
// answers with the rows (or the error's message), then exits. See simulate.ts for why.
import { type ExperimentOptions, runExperiment } from '../sim/index.js';

process.once('message', (request: { trace: Float64Array; options: ExperimentOptions }) => {
  try {
    const { rows } = runExperiment(request.trace, request.options);
    process.send!({ rows }, () => process.exit(0));
  } catch (err) {
    process.send!({ error: (err as Error).message }, () => process.exit(0));
  }
});

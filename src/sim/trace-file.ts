import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseWorkload } from './demand.js';
import { parseCsvTrace } from './trace-csv.js';
import { fetchPrometheusTrace, type PrometheusTraceOptions } from './trace-prometheus.js';

const run = promisify(execFile);

/**
 * TraceSource is where a trace comes from: a file (`workload.txt`, a `.tbz2`/`.tar.bz2` holding
 * one, or a `time,value` `.csv`), or a Prometheus range query.
 */
export type TraceSource =
  | {
      file: string;
      /** CSV only: longest interval (s) a value is held. @defaultValue the longer of 5 min and the median step */
      maxGap?: number;
    }
  | { prometheus: PrometheusTraceOptions };

/** Trace is a per-second request series and, for timed sources (CSV, Prometheus), the time of index 0. */
export interface Trace {
  perSecond: Float64Array;
  /** Unix seconds of index 0; undefined for `workload.txt`, which has no clock. */
  start?: number;
  /** Prometheus only: its warnings that the data may be partial (see fetchPrometheusTrace). */
  warnings?: string[];
}

/**
 * readTrace loads a trace from its source: a `workload.txt` as is, a `.tbz2`/`.tar.bz2` unpacked
 * with the system's `tar -xjf` into a temp folder that is removed afterwards, a `.csv` of
 * `time,value` samples (src/sim/trace-csv.ts) or a Prometheus range query
 * (src/sim/trace-prometheus.ts); a bare string is a file.
 */
export async function readTrace(source: string | TraceSource): Promise<Trace> {
  const s = typeof source === 'string' ? { file: source } : source;
  if ('prometheus' in s) return fetchPrometheusTrace(s.prometheus);
  const { file } = s;
  if (/\.csv$/i.test(file)) {
    return parseCsvTrace(await readFile(file, 'utf8'), s.maxGap === undefined ? {} : { maxGap: s.maxGap });
  }
  if (!/\.(tbz2|tar\.bz2)$/.test(file)) return { perSecond: parseWorkload(await readFile(file, 'utf8')) };
  const dir = await mkdtemp(join(tmpdir(), 'scaleplane-trace-'));
  try {
    await run('tar', ['-xjf', file, '-C', dir]);
    const names = await readdir(dir, { recursive: true });
    const workload = names.find((n) => n.endsWith('workload.txt'));
    if (!workload) throw new Error(`${file} holds no workload.txt`);
    return { perSecond: parseWorkload(await readFile(join(dir, workload), 'utf8')) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

import type { ObservedMetric } from '../policy/index.js';
import type { Instance } from '../providers/index.js';

/** CpuSample is one interval's CPU use of one instance. */
interface CpuSample {
  at: number;
  /** Percent of the instance's CPU size (see shareOfSize) over the interval that ended at `at`. */
  percent: number;
  /** Interval length, ms, for a time-weighted average. */
  spanMs: number;
}

/** SampleCpu measures CPU percent of one core per process group since its previous call for that group. */
export type SampleCpu = (pgids: number[], now: number) => Map<number, number>;

/**
 * shareOfSize turns percent of one core into percent of what the instance may use: its CPU size
 * (`resources.cpu` or the last resize, a CFS quota), as HPA reads utilization against the pod's
 * CPU request and AWS against the instance's vCPUs. Without a size it stays percent of one core.
 * Before, a 0.5-CPU instance busy its whole quota read 50 %, so a target of 70 % never scaled out.
 * Each instance is read against its own size, so a rolling resize mixes nothing up.
 */
export function shareOfSize(percentOfCore: number, size: Instance['size']): number {
  const cores = size?.cpu;
  return cores !== undefined && cores > 0 ? percentOfCore / cores : percentOfCore;
}

/**
 * ProcessCpuWindow keeps recent CPU samples of local instances and averages them over a window,
 * the way the HPA reads a metrics window rather than a single scrape. The sampling I/O is
 * injected (`sampleCpu`) so the averaging can be tested on its own.
 */
export class ProcessCpuWindow {
  readonly #samples = new Map<string, CpuSample[]>();
  readonly #lastAt = new Map<string, number>();
  readonly #sampleCpu: SampleCpu;
  readonly #windowMs: number;

  constructor(options: { sampleCpu: SampleCpu; windowMs: number }) {
    this.#sampleCpu = options.sampleCpu;
    this.#windowMs = options.windowMs;
  }

  /** sample takes one measurement of every ready instance that has a pid. */
  sample(instances: readonly Instance[], now: number): void {
    const live = instances.filter((i) => i.state === 'ready' && i.pid !== undefined);
    const percents = this.#sampleCpu(
      live.map((i) => i.pid!),
      now,
    );
    const liveIds = new Set(live.map((i) => i.id));
    for (const id of this.#samples.keys()) {
      if (!liveIds.has(id)) {
        this.#samples.delete(id);
        this.#lastAt.delete(id);
      }
    }
    for (const instance of live) {
      const percent = percents.get(instance.pid!);
      const lastAt = this.#lastAt.get(instance.id);
      this.#lastAt.set(instance.id, now);
      // The first sample of an instance only sets its baseline.
      if (percent === undefined || lastAt === undefined) continue;
      const samples = this.#samples.get(instance.id) ?? [];
      samples.push({ at: now, percent: shareOfSize(percent, instance.size), spanMs: now - lastAt });
      while (samples.length > 0 && samples[0]!.at <= now - this.#windowMs) samples.shift();
      this.#samples.set(instance.id, samples);
    }
  }

  /**
   * read returns the `cpu` reading: one time-weighted average per ready instance with samples in
   * the window; ready instances without one yet are HPA's missing pods, starting ones its unready.
   */
  read(
    instances: readonly Instance[],
    target: number,
    now: number,
    /** Shorter than the window: e.g. the last sampling tick alone. */
    windowMs = this.#windowMs,
  ): ObservedMetric {
    const values: number[] = [];
    let missing = 0;
    let unready = 0;
    for (const instance of instances) {
      if (instance.state === 'starting') unready++;
      if (instance.state !== 'ready') continue;
      const recent = (this.#samples.get(instance.id) ?? []).filter((s) => s.at > now - windowMs);
      const span = recent.reduce((sum, s) => sum + s.spanMs, 0);
      if (span <= 0) {
        missing++;
        continue;
      }
      values.push(recent.reduce((sum, s) => sum + s.percent * s.spanMs, 0) / span);
    }
    // 100 is a ceiling: a sized instance's whole quota, an unsized single-threaded one's one core.
    // A reading there only bounds demand.
    return { name: 'cpu', target, values, missing, unready, ceiling: 100 };
  }
}

import type { MemoryMetricConfig } from '../config/index.js';
import type { ObservedMetric } from '../policy/index.js';
import type { Instance } from '../providers/index.js';

/** SampleMemory measures the memory of each process group now, in bytes; a group that is gone has no entry. */
export type SampleMemory = (pgids: number[], now: number) => Map<number, number>;

/** MemoryTarget is the part of a `memory` metric's config the reading needs. */
export type MemoryTarget = Pick<MemoryMetricConfig, 'target' | 'targetType'>;

/**
 * ProcessMemoryWindow keeps the latest memory sample of each local instance and turns them into the
 * `memory` reading, the way HPA reads a Resource metric for memory. Memory is a level, not a rate,
 * so the latest sample counts (as metrics-server reports the working set at its scrape), provided
 * it is no older than `maxAgeMs`. The sampling I/O is injected (`sampleMemory`) so the reading can
 * be tested on its own.
 */
export class ProcessMemoryWindow {
  readonly #latest = new Map<string, { at: number; bytes: number }>();
  readonly #sampleMemory: SampleMemory;
  readonly #maxAgeMs: number;

  constructor(options: { sampleMemory: SampleMemory; maxAgeMs: number }) {
    this.#sampleMemory = options.sampleMemory;
    this.#maxAgeMs = options.maxAgeMs;
  }

  /** sample takes one measurement of every ready instance that has a pid. */
  sample(instances: readonly Instance[], now: number): void {
    const live = instances.filter((i) => i.state === 'ready' && i.pid !== undefined);
    const bytes = this.#sampleMemory(
      live.map((i) => i.pid!),
      now,
    );
    const liveIds = new Set(live.map((i) => i.id));
    for (const id of this.#latest.keys()) if (!liveIds.has(id)) this.#latest.delete(id);
    for (const instance of live) {
      const value = bytes.get(instance.pid!);
      if (value !== undefined) this.#latest.set(instance.id, { at: now, bytes: value });
    }
  }

  /**
   * read returns the `memory` reading. `AverageValue`: bytes per ready instance (kind `average`).
   * `Utilization`: percent of the memory limit (kind `utilization`), computed as HPA does,
   * Σ usage × 100 / Σ limits over the instances with a sample, so each value is its instance's
   * usage in percent of their mean limit (the same as of its own limit unless a resize is rolling).
   * Ready instances without a recent sample are HPA's missing pods, starting ones its unready.
   * An instance with a sample but no memory limit makes utilization undefined: an `error`, so the
   * metric counts as missing (HPA: "missing request for memory"). No ceiling: unlike CPU's 100 % (its
   * quota, or one core), usage can run past any target up to the limit.
   */
  read(instances: readonly Instance[], metric: MemoryTarget, now: number): ObservedMetric {
    const kind = metric.targetType === 'Utilization' ? 'utilization' : 'average';
    const base = { name: 'memory', target: metric.target, kind } as const;
    const sampled: { bytes: number; limit: number | undefined; id: string }[] = [];
    let missing = 0;
    let unready = 0;
    for (const instance of instances) {
      if (instance.state === 'starting') unready++;
      if (instance.state !== 'ready') continue;
      const latest = this.#latest.get(instance.id);
      if (latest === undefined || latest.at <= now - this.#maxAgeMs) {
        missing++;
        continue;
      }
      sampled.push({ bytes: latest.bytes, limit: instance.size?.memory, id: instance.id });
    }
    if (metric.targetType === 'AverageValue') {
      return { ...base, unit: 'bytes', values: sampled.map((s) => s.bytes), missing, unready };
    }
    const unlimited = sampled.find((s) => s.limit === undefined || s.limit <= 0);
    if (unlimited) {
      return {
        ...base,
        values: [],
        missing,
        unready,
        error: `${unlimited.id} has no memory limit, so its memory use is no percent of one`,
      };
    }
    const meanLimit = sampled.reduce((sum, s) => sum + s.limit!, 0) / (sampled.length || 1);
    return { ...base, values: sampled.map((s) => (s.bytes * 100) / meanLimit), missing, unready };
  }
}

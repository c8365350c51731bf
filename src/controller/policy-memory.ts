/**
 * PolicyMemoryFile keeps one group's predictive memory (see policy/memory.ts) in a small JSON file
 * next to the config, so a restarted controller still knows yesterday's traffic. Written atomically
 * (temporary file, then rename): a controller killed mid-write leaves the old or the new file.
 *
 * Its bucket indices count buckets of the decision clock (clock.ts), which runs apart from the wall
 * clock by the system clock's steps since the process started, while a restarted process's decision
 * clock starts on the wall clock again. So the file keeps them on the wall clock: shifted by that
 * offset when written and back when read. Kept on the old process's clock, after a step back of 10 min its last
 * buckets lay 10 min ahead of the restarted one's: the buckets it then closed went into the history
 * before them, out of order, which its bisection search (and the next restore) cannot read.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { wallOffset } from '../clock.js';
import type { PredictiveMemory } from '../policy/index.js';

/** policyMemoryPath is the file of one group: `.scaleplane-forecast-<group>.json` beside the config. */
export function policyMemoryPath(configSource: string, group: string): string {
  return resolve(dirname(configSource), `.scaleplane-forecast-${encodeURIComponent(group)}.json`);
}

/** PolicyMemoryFileOptions are a PolicyMemoryFile's clock. */
export interface PolicyMemoryFileOptions {
  /** How far the decisions' clock is ahead of the wall clock, ms. @defaultValue wallOffset (clock.ts) */
  wallOffset?: () => number;
}

/** PolicyMemoryFile reads and writes one group's predictive memory. */
export class PolicyMemoryFile {
  readonly path: string;
  readonly #wallOffset: () => number;
  /** Writes run one after another; a newer memory supersedes any still waiting. */
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string, options: PolicyMemoryFileOptions = {}) {
    this.path = path;
    this.#wallOffset = options.wallOffset ?? wallOffset;
  }

  /**
   * load is the stored memory as parsed JSON, its bucket indices on the decision clock, or
   * undefined when there is no file yet.
   */
  async load(): Promise<unknown> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return shiftBuckets(JSON.parse(text) as unknown, this.#wallOffset());
  }

  /** save replaces the file with `memory` (its bucket indices put on the wall clock); resolves once it is on disk. */
  save(memory: PredictiveMemory): Promise<void> {
    const text = JSON.stringify(shiftBuckets(memory, -this.#wallOffset()));
    const run = this.#queue.then(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      const tmp = `${this.path}.${process.pid}.tmp`;
      await writeFile(tmp, text);
      await rename(tmp, this.path);
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** close waits for the last write; safe to call twice. */
  async close(): Promise<void> {
    await this.#queue;
  }
}

/**
 * shiftBuckets moves a memory's bucket indices (history, open bucket, the forecaster's last) by
 * `ms`, in whole buckets. What is not shaped so is left as it is, for restoreMemory to refuse.
 */
function shiftBuckets(memory: unknown, ms: number): unknown {
  if (typeof memory !== 'object' || memory === null) return memory;
  const m = memory as Record<string, unknown>;
  const by = typeof m.bucket === 'number' && m.bucket > 0 ? Math.round(ms / m.bucket) : 0;
  if (by === 0) return memory;
  const move = (b: unknown) =>
    Array.isArray(b) && typeof b[0] === 'number' ? [b[0] + by, ...b.slice(1)] : b;
  const f = m.forecaster as Record<string, unknown> | undefined;
  return {
    ...m,
    ...(Array.isArray(m.buckets) && { buckets: m.buckets.map(move) }),
    ...(m.open !== undefined && { open: move(m.open) }),
    ...(typeof f === 'object' &&
      f !== null &&
      typeof f.index === 'number' && { forecaster: { ...f, index: f.index + by } }),
  };
}

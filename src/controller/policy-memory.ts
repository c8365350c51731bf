/**
 * PolicyMemoryFile keeps one group's predictive memory (see policy/memory.ts) in a small JSON file
 * next to the config, so a restarted controller still knows yesterday's traffic. Written atomically
 * (temporary file, then rename): a controller killed mid-write leaves the old or the new file.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { PredictiveMemory } from '../policy/index.js';

/** policyMemoryPath is the file of one group: `.scaleplane-forecast-<group>.json` beside the config. */
export function policyMemoryPath(configSource: string, group: string): string {
  return resolve(dirname(configSource), `.scaleplane-forecast-${encodeURIComponent(group)}.json`);
}

/** PolicyMemoryFile reads and writes one group's predictive memory. */
export class PolicyMemoryFile {
  readonly path: string;
  /** Writes run one after another; a newer memory supersedes any still waiting. */
  #queue: Promise<void> = Promise.resolve();

  constructor(path: string) {
    this.path = path;
  }

  /** load is the stored memory as parsed JSON, or undefined when there is no file yet. */
  async load(): Promise<unknown> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return JSON.parse(text) as unknown;
  }

  /** save replaces the file with `memory`; resolves once it is on disk. */
  save(memory: PredictiveMemory): Promise<void> {
    const text = JSON.stringify(memory);
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

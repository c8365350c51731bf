import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseWorkload } from './demand.js';

const run = promisify(execFile);

/**
 * readTrace loads a trace: a `workload.txt` as is, or a `.tbz2`/`.tar.bz2` unpacked with the
 * system's `tar -xjf` into a temp folder that is removed afterwards.
 */
export async function readTrace(file: string): Promise<Float64Array> {
  if (!/\.(tbz2|tar\.bz2)$/.test(file)) return parseWorkload(await readFile(file, 'utf8'));
  const dir = await mkdtemp(join(tmpdir(), 'scaleplane-trace-'));
  try {
    await run('tar', ['-xjf', file, '-C', dir]);
    const names = await readdir(dir, { recursive: true });
    const workload = names.find((n) => n.endsWith('workload.txt'));
    if (!workload) throw new Error(`${file} holds no workload.txt`);
    return parseWorkload(await readFile(join(dir, workload), 'utf8'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

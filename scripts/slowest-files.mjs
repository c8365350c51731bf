// A node:test reporter that prints, at the end of a run, the files that took longest: the sum of
// each file's top-level test durations (its tests run one after another). The suite runs two
// files at a time within a CI budget, so these are the files to look at when it grows slow.
// Used by scripts/run-tests.mjs beside the spec reporter; SLOWEST_FILES=N prints N (default 15).
import { relative } from 'node:path';

const shown = Number(process.env.SLOWEST_FILES ?? 15);

export default async function* slowestFiles(source) {
  const perFile = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, details } = event.data;
    if (event.data.file === undefined || nesting !== 0) continue;
    // Run compiled, a file's tests are located by its source map (x.test.ts), the file itself as x.test.js.
    const file = event.data.file.replace(/\.js$/, '.ts');
    perFile.set(file, (perFile.get(file) ?? 0) + (details.duration_ms ?? 0));
  }
  if (perFile.size === 0 || shown <= 0) return;
  const total = [...perFile.values()].reduce((a, b) => a + b, 0);
  const slowest = [...perFile].sort((a, b) => b[1] - a[1]).slice(0, shown);
  yield `\nslowest of ${perFile.size} files (test time ${(total / 1000).toFixed(0)} s in all):\n`;
  for (const [file, ms] of slowest) {
    yield `${(ms / 1000).toFixed(1).padStart(7)} s  ${relative(process.cwd(), file)}\n`;
  }
}

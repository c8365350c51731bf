// buildTestTree mirrors the repository into DIR with src/, test/ and examples/ compiled to JavaScript, so that
// the test files and the CLI processes they start run on plain Node rather than through tsx.
//
// Why: Node 20 runs tsx's loader hooks on their own thread, and each of the ~380 test processes (and
// the CLI children many of them start) resolved and loaded every module through it: about 1 CPU-s
// more per process than the same modules compiled, a fifth of a whole run's CPU on 2 cores.
//
// The mirror keeps the repository's layout, so every path a test computes from import.meta.dirname
// (scripts, fixtures, dist) still resolves: src/, test/ and examples/ are copied with each .ts file's
// .js beside it (the .ts stays, for tests that read sources or start a fixture through tsx), and
// every other top-level entry is a symbolic link to the repository's own. The compiled files carry
// inline source maps: with --enable-source-maps a failure's stack names the .ts line.
import { cpSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as esbuild from 'esbuild';

// examples/ too: its files import ../../src, which must be the tree's.
const COMPILED = ['src', 'test', 'examples'];

function typescriptFiles(root, dir) {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return typescriptFiles(root, path);
    return /\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** buildTestTree builds the mirror of REPO in DIR (which must not exist) and returns DIR. */
export async function buildTestTree(repo, dir) {
  const root = resolve(repo);
  mkdirSync(dir);
  for (const entry of readdirSync(root)) {
    if (entry === '.git') continue;
    if (COMPILED.includes(entry)) cpSync(join(root, entry), join(dir, entry), { recursive: true });
    else symlinkSync(join(root, entry), join(dir, entry));
  }
  const files = COMPILED.flatMap((top) => typescriptFiles(dir, top));
  await esbuild.build({
    entryPoints: files.map((file) => join(dir, file)),
    outdir: dir,
    outbase: dir,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    // As tsx does: a function's name survives esbuild renaming a local that shadows another.
    keepNames: true,
    logLevel: 'warning',
    absWorkingDir: dir,
  });
  return dir;
}

/**
 * COMPILED: this file runs from the compiled test tree `npm test` builds (scripts/test-tree.mjs),
 * not through tsx (a test file run by hand with `node --import tsx --test`).
 */
export const COMPILED = import.meta.url.endsWith('.js');

/**
 * runnable gives the node arguments that run the TypeScript file PATH (absolute, or relative to the
 * child's cwd): its compiled `.js` beside it in the test tree, else the `.ts` through tsx. In the
 * tree a child skips tsx's loader, about 1 CPU-s per process on this suite's 2 cores.
 */
export function runnable(path: string): string[] {
  if (!path.endsWith('.ts')) throw new Error(`runnable: ${path} is not a .ts file`);
  return COMPILED ? ['--enable-source-maps', `${path.slice(0, -3)}.js`] : ['--import', 'tsx', path];
}

/** forkable is runnable's node options alone, for fork()'s execArgv (the file is given apart). */
export function forkable(path: string): { modulePath: string; execArgv: string[] } {
  const args = runnable(path);
  return { modulePath: args.at(-1)!, execArgv: args.slice(0, -1) };
}

import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * TREE_ENV marks, in its environment, every process a test spawns through spawnInTree. Every process
 * those start inherits it (a local instance inherits its controller's environment), also one that
 * left its process group (an instance is a group leader of its own) or was re-parented to init
 * after its parent died: the mark finds them all, where a process group or a parent pid would not.
 */
export const TREE_ENV = 'SCALEPLANE_TEST_TREE';

/** TREE is this test process's mark: its pid and a random part, so no other run's processes match. */
export const TREE = `${process.pid}-${randomBytes(4).toString('hex')}`;

let installed = false;

/**
 * spawnInTree is child_process.spawn with the child marked as this test process's (TREE_ENV): it
 * and everything it starts are killed when this process exits or is terminated. A test file that
 * passes its timeout (the runner's `--test-timeout`, 300 s) is ended with SIGTERM, and no `finally`
 * of its tests runs: before, a `scaleplane up` it ran and that one's instances (with a state store
 * they outlive their controller on purpose, to be adopted) kept running for good.
 */
export function spawnInTree(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  killTreeOnExit();
  return spawn(command, args, { ...options, env: { ...(options.env ?? process.env), [TREE_ENV]: TREE } });
}

/** treeMembers lists the live processes marked `tree` (this process's by default), from /proc. */
export function treeMembers(tree = TREE): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    if (inTree(Number(entry), tree)) members.push(Number(entry));
  }
  return members;
}

/** inTree tells whether process `pid` is marked `tree` (this process's by default). */
export function inTree(pid: number, tree = TREE): boolean {
  try {
    // A zombie's environ reads empty: it is dead already.
    return `\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}\0`.includes(`\0${TREE_ENV}=${tree}\0`);
  } catch {
    // Gone while we looked, or not ours to read (then not ours to kill either).
    return false;
  }
}

/** killTree sends SIGKILL to every process marked as this test process's; returns their pids. */
export function killTree(): number[] {
  const members = treeMembers();
  for (const pid of members) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  return members;
}

/**
 * killTreeOnExit kills the tree when this process exits, and on SIGTERM, SIGINT and SIGHUP (which
 * otherwise end it without an 'exit' event), then exits as the signal would have. Once per process.
 */
function killTreeOnExit(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => killTree());
  for (const [signal, number] of [
    ['SIGTERM', 15],
    ['SIGINT', 2],
    ['SIGHUP', 1],
  ] as const) {
    process.on(signal, () => {
      killTree();
      process.exit(128 + number);
    });
  }
}

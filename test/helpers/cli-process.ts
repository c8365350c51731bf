import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { inTree, spawnInTree } from './process-tree.js';
import { runnable } from './runnable.js';

/** ROOT is the repository root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/**
 * TEST_ENV keeps the log files of local instances a child controller adopts (Redis/PostgreSQL
 * state: `$XDG_STATE_HOME/scaleplane/logs`) in the test run's temp folder, removed after the run,
 * rather than in the home folder of whoever runs the tests, shared by every run.
 */
const TEST_ENV: NodeJS.ProcessEnv = {
  XDG_STATE_HOME: process.env.XDG_STATE_HOME ?? join(tmpdir(), 'xdg-state'),
};

/** LogLine is one JSON log line of `scaleplane up`. */
export type LogLine = { msg?: string; level?: number } & Record<string, unknown>;

/** runNode runs `node ARGS` in the repository root and collects its exit code and output. */
export function runNode(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    // In the test's tree: killed with it, also when its file times out (see spawnInTree).
    const child = spawnInTree(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, ...TEST_ENV, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => {
      stdout += d;
    });
    child.stderr!.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** runCli runs the CLI (compiled in the test tree, else from source through tsx) and collects its output. */
export function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return runNode([...runnable('src/cli/main.ts'), ...args], env);
}

/**
 * UpProcess is `scaleplane up` in a child process, with its JSON log lines readable as they come.
 */
export class UpProcess {
  readonly child: ChildProcess;
  readonly lines: LogLine[] = [];
  readonly #waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  readonly #listeners: ((l: LogLine) => void)[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it wrote to stderr, with `captureStderr` (else stderr is the test's own). */
  stderr = '';
  /** Resolves once its stderr ended (all of it read, with `captureStderr`), which may come after `exited`. */
  readonly stderrEnded: Promise<void>;

  constructor(configPath: string, env: NodeJS.ProcessEnv = {}, { captureStderr = false } = {}) {
    // In the test's tree: it and its instances are killed with the test process (see spawnInTree).
    this.child = spawnInTree(process.execPath, [...runnable('src/cli/main.ts'), 'up', '-c', configPath], {
      cwd: ROOT,
      env: { ...process.env, ...TEST_ENV, ...env },
      stdio: ['ignore', 'pipe', captureStderr ? 'pipe' : 'inherit'],
    });
    const stderr = this.child.stderr;
    stderr?.on('data', (d) => {
      this.stderr += d;
    });
    this.stderrEnded = stderr ? new Promise((r) => stderr.once('end', () => r())) : Promise.resolve();
    this.exited = new Promise((r) => this.child.once('exit', (code, signal) => r({ code, signal })));
    createInterface({ input: this.child.stdout! }).on('line', (text) => {
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { msg: text };
      }
      this.lines.push(line);
      for (const listener of this.#listeners) listener(line);
      for (const waiter of [...this.#waiters]) {
        if (waiter.match(line)) {
          this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    });
  }

  /**
   * onLine calls `listener` with every log line, those already read first, then each as it is read:
   * for what must be done when a line is seen, not later (recording a pid before it can be reused).
   */
  onLine(listener: (l: LogLine) => void): void {
    for (const line of this.lines) listener(line);
    this.#listeners.push(listener);
  }

  /** waitFor resolves with the first log line (past or future) that matches, or rejects at the deadline. */
  waitFor(match: (l: LogLine) => boolean, timeoutMs: number): Promise<LogLine> {
    const seen = this.lines.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no matching log line within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolvePromise(l);
        },
      });
      void this.exited.then(() => {
        clearTimeout(timer);
        reject(new Error('scaleplane exited before the expected log line'));
      });
    });
  }
}

/**
 * processGroupMembers lists the pids of every live process in the given process groups (from /proc).
 * With `inTestTree`, only the processes this test started (marked by spawnInTree, inherited by the
 * instances of a `scaleplane up` it spawned): pids wrap within minutes here (pid_max 32768), and a
 * group id learnt earlier may lead a stranger's group by now (a setsid mariadbd of another file),
 * which counted as an instance nobody manages.
 */
export function processGroupMembers(pgids: number[], { inTestTree = false } = {}): number[] {
  const wanted = new Set(pgids);
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // fields[0] is the state, [2] the process group; zombies are already dead.
      if (fields[0] !== 'Z' && wanted.has(Number(fields[2])) && (!inTestTree || inTree(Number(entry))))
        members.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return members;
}

/**
 * waitUntilGone polls /proc until no process of the groups this test started is left (see
 * processGroupMembers' `inTestTree`), or fails at the deadline.
 */
export async function waitUntilGone(pgids: number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = processGroupMembers(pgids, { inTestTree: true });
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

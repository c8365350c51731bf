import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { readProcTable } from './cpu.js';

/** freePort asks the kernel for a free TCP port on `host` (bind to port 0, read it, close). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error(`no port from ${host}`))));
    });
  });
}

/**
 * probeHttp sends one `GET path` and resolves true on a 2xx/3xx answer, false on anything else
 * (refused, timed out, aborted, 4xx/5xx). It never rejects.
 */
export function probeHttp(
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        path,
        method: 'GET',
        agent: false,
        headers: { connection: 'close' },
        signal: AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]),
      },
      (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        resolve(status >= 200 && status < 400);
      },
    );
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * signalGroup sends `signal` to every process in group `pgid`. It returns false when the group has
 * no process left; other failures (EPERM) are thrown.
 */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * groupAlive tells whether group `pgid` still has a process that is not a zombie. Zombies count as
 * gone: once adopted by an init that never reaps, they would otherwise look alive forever.
 */
export function groupAlive(pgid: number, procRoot = '/proc'): boolean {
  try {
    if (!signalGroup(pgid, 0)) return false;
  } catch {
    // EPERM: a process we may not signal is in the group, so it is not empty.
  }
  return readProcTable(procRoot).some((s) => s.pgrp === pgid && s.state !== 'Z');
}

let setpriv: string | null | undefined;

/**
 * setprivPath finds a `setpriv` (util-linux) that supports `--pdeathsig`, once per process; null when
 * there is none.
 */
export function setprivPath(): string | null {
  if (setpriv === undefined) {
    setpriv = null;
    for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
      const result = spawnSync(candidate, ['--pdeathsig', 'TERM', '--', 'true'], {
        stdio: 'ignore',
        timeout: 2000,
      });
      if (result.status === 0) {
        setpriv = candidate;
        break;
      }
    }
  }
  return setpriv;
}

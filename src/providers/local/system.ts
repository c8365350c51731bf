import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { deadline } from '../../deadline.js';
import { readProcTable, threadCount } from './cpu.js';
import { EPHEMERAL_RANGE_PATH, type PortRange, parseEphemeralRange } from './port-range.js';

/** readEphemeralRange reads the kernel's ephemeral port range; undefined where it cannot (not Linux). */
export function readEphemeralRange(path = EPHEMERAL_RANGE_PATH): PortRange | undefined {
  try {
    return parseEphemeralRange(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

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
 * portFreeOn says whether `port` on `host` can be bound now (bind, then close at once): true, or
 * false when it is taken (EADDRINUSE) or not ours to bind (EACCES). Any other error (a host that
 * is not this machine's) rejects.
 */
export function portFreeOn(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(false) : reject(err),
    );
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** HealthAnswer is how one readiness probe went: the status answered, or why there was none. */
export type HealthAnswer = { readonly status: number } | { readonly error: string };

/**
 * probeHealth sends one `GET path` and resolves with the status answered, or the error code
 * (`ECONNREFUSED`, `TIMEOUT`, `ABORTED`…) when none came. It never rejects.
 */
export function probeHealth(
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<HealthAnswer> {
  return new Promise((resolve) => {
    // A deadline, not AbortSignal.timeout: held only by AbortSignal.any, that one can be
    // garbage-collected before it fires on Node 20, and the probe then waits as long as the peer does.
    const limit = deadline(timeoutMs, signal);
    const req = request(
      {
        host,
        port,
        path,
        method: 'GET',
        agent: false,
        headers: { connection: 'close' },
        signal: limit.signal,
      },
      (res) => {
        limit.clear();
        res.resume();
        resolve({ status: res.statusCode ?? 0 });
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      limit.clear();
      const code = limit.timedOut ? 'TIMEOUT' : signal.aborted ? 'ABORTED' : err.code;
      resolve({ error: code ?? err.message });
    });
    req.end();
  });
}

/**
 * probeHttp sends one `GET path` and resolves true on a 2xx/3xx answer, false on anything else
 * (refused, timed out, aborted, 4xx/5xx). It never rejects.
 */
export async function probeHttp(
  host: string,
  port: number,
  path: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<boolean> {
  return healthy(await probeHealth(host, port, path, timeoutMs, signal));
}

/** healthy says whether a probe's answer means ready: a 2xx or 3xx status. */
export function healthy(answer: HealthAnswer): boolean {
  return 'status' in answer && answer.status >= 200 && answer.status < 400;
}

/** PortState is what one TCP connect found: a listener, a refusal, or neither in time. */
export type PortState = 'open' | 'refused' | 'unanswered';

/** probePort opens (and at once closes) one TCP connection to `host:port`. It never rejects. */
export function probePort(host: string, port: number, timeoutMs: number): Promise<PortState> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (state: PortState) => {
      socket.destroy();
      resolve(state);
    };
    socket.setTimeout(timeoutMs, () => done('unanswered'));
    socket.once('connect', () => done('open'));
    socket.once('error', (err: NodeJS.ErrnoException) =>
      done(err.code === 'ECONNREFUSED' ? 'refused' : 'unanswered'),
    );
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
  // A zombie main thread with other threads still exiting is not gone yet (see threadCount).
  return readProcTable(procRoot).some(
    (s) => s.pgrp === pgid && (s.state !== 'Z' || threadCount(s.pid, procRoot) > 1),
  );
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

import { EventEmitter } from 'node:events';
import { Agent, request } from 'node:http';

/** LoadResult counts what clients saw. */
export interface LoadResult {
  ok: number;
  non2xx: number;
  errors: number;
  statuses: Record<number, number>;
  errorCodes: Record<string, number>;
}

/**
 * startLoad runs `concurrency` keep-alive clients against a loopback URL until `stop()` or
 * `maxDurationMs`, whichever comes first. Bounded by construction: it can't run forever.
 */
export function startLoad(options: {
  url: string;
  concurrency: number;
  maxDurationMs: number;
  method?: string;
  body?: string;
  /** Pause of each client between its requests, ms (a gentler load for long runs). @defaultValue 0 */
  pauseMs?: number;
}): {
  stop: () => Promise<LoadResult>;
  result: LoadResult;
  done: Promise<LoadResult>;
  /** reached resolves once `n` more requests have completed (or the load ended). */
  reached: (n: number) => Promise<void>;
} {
  const url = new URL(options.url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname))
    throw new Error('load goes to loopback only');
  const agent = new Agent({ keepAlive: true, maxSockets: options.concurrency });
  const result: LoadResult = { ok: 0, non2xx: 0, errors: 0, statuses: {}, errorCodes: {} };
  const deadline = Date.now() + options.maxDurationMs;
  let stopped = false;
  const progress = new EventEmitter();
  progress.setMaxListeners(0);
  const completed = () => result.ok + result.non2xx + result.errors;

  const once = () =>
    new Promise<void>((resolveOnce) => {
      const resolve = () => {
        progress.emit('completed');
        resolveOnce();
      };
      const req = request(url, { method: options.method ?? 'GET', agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          result.statuses[status] = (result.statuses[status] ?? 0) + 1;
          if (status >= 200 && status < 300) result.ok++;
          else result.non2xx++;
          resolve();
        });
        res.on('error', (err: NodeJS.ErrnoException) => fail(err, resolve));
      });
      req.on('error', (err: NodeJS.ErrnoException) => fail(err, resolve));
      req.end(options.body);
    });
  const fail = (err: NodeJS.ErrnoException, resolve: () => void) => {
    result.errors++;
    const code = err.code ?? err.message;
    result.errorCodes[code] = (result.errorCodes[code] ?? 0) + 1;
    resolve();
  };
  const client = async () => {
    while (!stopped && Date.now() < deadline) {
      await once();
      if (options.pauseMs) await new Promise((r) => setTimeout(r, options.pauseMs));
    }
  };
  const done = Promise.all(Array.from({ length: options.concurrency }, client)).then(() => {
    agent.destroy();
    progress.emit('ended');
    return result;
  });
  let ended = false;
  void done.then(() => {
    ended = true;
  });
  const reached = (n: number) => {
    const target = completed() + n;
    return new Promise<void>((resolve) => {
      const check = () => {
        if (completed() < target && !ended) return;
        progress.off('completed', check);
        progress.off('ended', check);
        resolve();
      };
      progress.on('completed', check);
      progress.on('ended', check);
    });
  };
  return {
    result,
    done,
    reached,
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

import { writeSync } from 'node:fs';
import { pino } from 'pino';

/** LogDestinationOptions configures where the JSON log goes. */
export interface LogDestinationOptions {
  /** File descriptor. @defaultValue 1 (stdout) */
  fd?: number;
  /** Bytes of log lines kept while writes fail; newer lines are dropped beyond. @defaultValue 1 MiB */
  maxBuffered?: number;
  /** Told once writes work again, with the lines dropped meanwhile and the error they met. */
  onRecovered?: (info: { dropped: number; error: string; failedForMs: number }) => void;
}

/** LogDestination is a pino destination that survives failing writes. */
export type LogDestination = ReturnType<typeof pino.destination>;

/**
 * createLogDestination is the log's stdout destination, made safe for a full disk or a broken pipe.
 * pino's default destination turns a failed write (ENOSPC) into an uncaught error, and its exit
 * hook then retries the final flush forever: the process stops serving without exiting. Here writes
 * are synchronous (no exit hook to hang in); a failed line stays queued and is retried with the
 * next one, up to `maxBuffered` bytes (newer lines are dropped beyond that); stderr hears of the
 * failure once per streak, and `onRecovered` when writing works again.
 */
export function createLogDestination(options: LogDestinationOptions = {}): LogDestination {
  const destination = pino.destination({
    dest: options.fd ?? 1,
    sync: true,
    maxLength: options.maxBuffered ?? 1024 * 1024,
  });
  let failing: { since: number; error: string } | undefined;
  let dropped = 0;
  destination.on('error', (err: NodeJS.ErrnoException) => {
    if (failing) return;
    // Monotonic: a step of the system clock while writes fail must not make the streak negative or a day long.
    failing = { since: performance.now(), error: err.code ?? err.message };
    try {
      writeSync(
        2,
        `scaleplane: log write failed (${failing.error}); keeping up to ${options.maxBuffered ?? 1024 * 1024} bytes of log lines and retrying with each new line\n`,
      );
    } catch {
      // stderr may be on the same full disk; the count below still tells.
    }
  });
  destination.on('drop', () => {
    dropped++;
  });
  destination.on('write', () => {
    if (!failing) return;
    const info = {
      dropped,
      error: failing.error,
      failedForMs: Math.round(performance.now() - failing.since),
    };
    failing = undefined;
    dropped = 0;
    // After this write returns: the callback may log, which writes again.
    setImmediate(() => options.onRecovered?.(info));
  });
  return destination;
}

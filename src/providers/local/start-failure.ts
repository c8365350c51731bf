import { constants } from 'node:os';
import type { HealthAnswer, PortState } from './system.js';

/** StartTimeout is what is known of an instance still running when its start_timeout ran out. */
export interface StartTimeout {
  /** `host:port` it was given. */
  readonly address: string;
  /** The variable that carries the port (`port_env`), e.g. `PORT`. */
  readonly portEnv: string;
  readonly healthPath: string;
  readonly timeoutMs: number;
  /** How long each readiness probe waited for an answer (`balancer.health.timeout`). */
  readonly probeTimeoutMs?: number;
  /** One TCP connect to the address, made at the timeout. */
  readonly port: PortState;
  /** The last readiness probe's answer, if one was made. */
  readonly lastProbe: HealthAnswer | undefined;
}

/**
 * startTimeoutReason says why a running instance never became ready, in words the user acts on:
 * nothing listening on its port means the app ignores `$PORT` (or has not bound yet); a listener
 * whose health path answers 4xx/5xx, or nothing, is a health check problem instead. `hint` goes in
 * the parentheses after the message, with the instance's last output.
 */
export function startTimeoutReason(input: StartTimeout): { message: string; hint?: string } {
  const { address, healthPath, timeoutMs, lastProbe } = input;
  if (input.port === 'refused') {
    return {
      message: `nothing listens on ${address} after ${timeoutMs} ms`,
      hint: `the app must listen on $${input.portEnv}`,
    };
  }
  if (input.port === 'open') {
    if (lastProbe !== undefined && 'status' in lastProbe) {
      return {
        message: `listens on ${address} but ${healthPath} answered ${lastProbe.status}, not 2xx/3xx, for ${timeoutMs} ms`,
      };
    }
    // Answering, but slower than a probe waits, is told apart: the fix is a longer health timeout.
    if (
      lastProbe !== undefined &&
      'error' in lastProbe &&
      lastProbe.error === 'TIMEOUT' &&
      input.probeTimeoutMs
    )
      return {
        message: `listens on ${address} but ${healthPath} did not answer within ${input.probeTimeoutMs} ms (balancer.health.timeout), probed for ${timeoutMs} ms`,
        hint: `raise balancer.health.timeout if ${healthPath} takes longer`,
      };
    return { message: `listens on ${address} but did not answer ${healthPath} within ${timeoutMs} ms` };
  }
  return { message: `did not answer ${healthPath} within ${timeoutMs} ms` };
}

/** quoteOutput renders an instance's last line of output for a failure message (cut at 300 chars). */
export function quoteOutput(last: string | undefined): string | undefined {
  const line = last?.trim();
  if (!line) return undefined;
  return `last output: ${JSON.stringify(line.length > 300 ? `${line.slice(0, 300)}…` : line)}`;
}

/**
 * shellSignal names the signal behind an exit code a shell reports for a child it ran (128 + the
 * signal's number: 139 for SIGSEGV, 137 for SIGKILL), undefined for other codes. An instance's
 * leader is `/bin/sh -c command`, and dash (Debian's /bin/sh) runs even a lone command as its
 * child: an app that segfaulted was reported as only "exit code 139", never as a signal.
 */
export function shellSignal(code: number): NodeJS.Signals | undefined {
  if (!(code > 128 && code < 128 + 65)) return undefined;
  const entry = Object.entries(constants.signals).find(([, number]) => number === code - 128);
  return entry?.[0] as NodeJS.Signals | undefined;
}

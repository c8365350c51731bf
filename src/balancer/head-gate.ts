import type http from 'node:http';

/**
 * HeadGate is told the status and raw headers of a backend's answer before the proxy writes its
 * head to the client. A promise holds the answer (head and body) until it settles; undefined lets
 * it through at once.
 */
export type HeadGate = (status: number, rawHeaders: readonly string[]) => Promise<void> | undefined;

const gates = new WeakMap<http.ServerResponse, HeadGate>();

/**
 * gateHead makes `gate` see the answer the proxy is about to write to `res`. The HTTP cache uses it
 * for unsafe requests: the other processes' caches drop the URLs the answer invalidates before the
 * client can read it, so its next GET, whichever process takes it, cannot get the old copy.
 */
export function gateHead(res: http.ServerResponse, gate: HeadGate): void {
  gates.set(res, gate);
}

/** headGate is the gate set on `res`, if any. */
export function headGate(res: http.ServerResponse): HeadGate | undefined {
  return gates.get(res);
}

import type { BalancerAlgorithm } from '../../config/types.js';
import { BalancerError } from '../errors.js';
import { ConsistentHashPicker } from './consistent-hash.js';
import { EwmaPicker } from './ewma.js';
import { LeastConnectionsPicker } from './least-connections.js';
import { P2CPicker } from './p2c.js';
import type { HashKeySource, Picker, PickerOptions } from './picker.js';
import { RoundRobinPicker } from './round-robin.js';

export { buildMaglevTable, ConsistentHashPicker, hash32 } from './consistent-hash.js';
export { decayedCost, EwmaPicker, type EwmaState, observePeakEwma } from './ewma.js';
export { LeastConnectionsPicker } from './least-connections.js';
export { P2CPicker, pickTwo } from './p2c.js';
export type { HashKeySource, PickContext, Picker, PickerOptions } from './picker.js';
export { RoundRobinPicker } from './round-robin.js';

/** ALGORITHMS lists every algorithm `createPicker` knows. */
export const ALGORITHMS: readonly BalancerAlgorithm[] = [
  'round-robin',
  'least-connections',
  'p2c',
  'ewma',
  'consistent-hash',
];

/** createPicker returns a fresh picker for the named algorithm; each group needs its own. */
export function createPicker(name: BalancerAlgorithm, options: PickerOptions = {}): Picker {
  switch (name) {
    case 'round-robin':
      return new RoundRobinPicker();
    case 'least-connections':
      return new LeastConnectionsPicker();
    case 'p2c':
      return new P2CPicker(options.random);
    case 'ewma':
      return new EwmaPicker({
        random: options.random,
        now: options.now,
        decay: options.ewmaDecay,
        defaultRtt: options.ewmaDefaultRtt,
      });
    case 'consistent-hash':
      return new ConsistentHashPicker({ hashKey: options.hashKey, tableSize: options.tableSize });
    default:
      throw new BalancerError('BALANCER_UNKNOWN_ALGORITHM', `unknown balancer algorithm "${String(name)}"`);
  }
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * parseHashKey reads `ip`, `header:NAME` or `cookie:NAME` into a HashKeySource. Throws a
 * BalancerError (BALANCER_INVALID_ARGUMENT) on anything else.
 */
export function parseHashKey(text: string): HashKeySource {
  if (text === 'ip') return { kind: 'ip' };
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  const name = text.slice(colon + 1);
  if (kind === 'header' && HEADER_NAME.test(name)) return { kind, name: name.toLowerCase() };
  if (kind === 'cookie' && /^[^\s;=,]+$/.test(name)) return { kind, name };
  throw new BalancerError(
    'BALANCER_INVALID_ARGUMENT',
    `hash key must be "ip", "header:NAME" or "cookie:NAME", got "${text}"`,
  );
}

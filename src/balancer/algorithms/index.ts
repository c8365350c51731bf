import type { BalancerAlgorithm } from '../../config/types.js';
import { BalancerError } from '../errors.js';
import { LeastConnectionsPicker } from './least-connections.js';
import type { Picker } from './picker.js';
import { RoundRobinPicker } from './round-robin.js';

export { LeastConnectionsPicker } from './least-connections.js';
export type { PickContext, Picker } from './picker.js';
export { RoundRobinPicker } from './round-robin.js';

/** createPicker returns a fresh picker for the named algorithm; each group needs its own. */
export function createPicker(name: BalancerAlgorithm): Picker {
  switch (name) {
    case 'round-robin':
      return new RoundRobinPicker();
    case 'least-connections':
      return new LeastConnectionsPicker();
    default:
      throw new BalancerError('BALANCER_UNKNOWN_ALGORITHM', `unknown balancer algorithm "${String(name)}"`);
  }
}

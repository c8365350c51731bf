import { createHash } from 'node:crypto';
import type { LocalProviderConfig } from '../../config/types.js';

/**
 * instanceSpec is a fingerprint of what an instance of a local group runs: its command, working
 * directory, environment, port variable and host, as a Pod template hash names what a Deployment's
 * pods run. It is recorded with each adoptable instance, so a controller restarted with another
 * command or environment tells the instances it adopts that still run the old one from those it
 * would start now, and replaces them (one at a time) instead of keeping them for good. Timeouts,
 * crash-loop and log settings are not part of it: changing them replaces nothing. Pure.
 */
export function instanceSpec(config: LocalProviderConfig): string {
  const env = Object.entries(config.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const what = JSON.stringify([config.command, config.cwd, env, config.portEnv, config.host]);
  return createHash('sha256').update(what).digest('hex').slice(0, 16);
}

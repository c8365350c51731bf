import { API_KEY_ENV, API_KEY_FILE_ENV } from '../../api/auth.js';
import { STOP_TIMEOUT_ENV } from '../../stop-timeout.js';

/**
 * CONTROLLER_SECRET_ENV are variables of Scaleplane's own environment that no instance inherits:
 * the API's admin token (or the file holding it). An instance got it with the rest of our environment, so any app (and
 * anything it runs, logs or is exploited into printing) could scale, resize or stop every group.
 * The kubelet gives a pod only the variables of its spec, systemd a unit only its own; Scaleplane
 * keeps the convenience of inheriting PATH, HOME, DATABASE_URL… but not its own credentials.
 */
export const CONTROLLER_SECRET_ENV: readonly string[] = [...API_KEY_ENV, API_KEY_FILE_ENV];

/**
 * instanceEnv is the environment of a new instance: ours without CONTROLLER_SECRET_ENV, its stop
 * timeout (STOP_TIMEOUT_ENV, when given), then the group's `env` (which may name any of them on
 * purpose: it is then passed), then the port. Pure.
 */
export function instanceEnv(
  parent: NodeJS.ProcessEnv,
  groupEnv: Readonly<Record<string, string>>,
  portEnv: string,
  port: number,
  stopTimeoutMs?: number,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...parent };
  for (const name of CONTROLLER_SECRET_ENV) delete env[name];
  if (stopTimeoutMs !== undefined) env[STOP_TIMEOUT_ENV] = String(stopTimeoutMs);
  return { ...env, ...groupEnv, [portEnv]: String(port) };
}

import { API_KEY_ENV, API_KEY_FILE_ENV } from '../../api/auth.js';
import type { Config } from '../../config/types.js';
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
 * configSecretEnv names the variables a config reads Scaleplane's own credentials from: the
 * Cloudflare API token (`balancer.cloudflare.token_env`) and the secret URLs of alert sinks
 * (`url_env`, a Slack webhook's path is its token). They were kept out of the config file to stay
 * secret, and every local instance inherited them. A Sentry DSN (`dsn_env`) is not among them:
 * Sentry calls DSNs safe to publish, and an app often reads the same SENTRY_DSN for its own errors.
 */
export function configSecretEnv(config: Pick<Config, 'balancer' | 'alerts'>): string[] {
  const names = new Set<string>();
  const cloudflare = config.balancer.cloudflare;
  if (cloudflare !== undefined) names.add(cloudflare.tokenEnv);
  for (const sink of config.alerts?.sinks ?? [])
    if (sink.type !== 'sentry' && sink.urlEnv !== undefined) names.add(sink.urlEnv);
  return [...names];
}

/** Inspector flags that take their value as the next word when written without `=`. */
const INSPECTOR_VALUE_FLAGS = new Set(['--inspect-port', '--debug-port', '--inspect-publish-uid']);

/**
 * withoutInspectorFlags drops Node's inspector flags (`--inspect`, `--inspect-brk`, `--inspect-wait`,
 * `--inspect-port`, `--inspect-publish-uid`, `--debug*`, each with its value) from a NODE_OPTIONS
 * value and keeps every other word as written (quotes included); undefined when none is left.
 */
export function withoutInspectorFlags(nodeOptions: string): string | undefined {
  // Words as Node splits NODE_OPTIONS: on spaces, a double-quoted part (with \ escapes) is one word.
  const words = nodeOptions.match(/(?:[^\s"]+|"(?:[^"\\]|\\.)*"?)+/g) ?? [];
  const kept: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const word = words[i]!;
    // Node reads `_` in an option's name as `-` (--inspect_brk).
    const flag = word.replace(/"/g, '').split('=', 1)[0]!.replace(/_/g, '-');
    if (!(flag.startsWith('--inspect') || flag.startsWith('--debug'))) {
      kept.push(word);
      continue;
    }
    if (INSPECTOR_VALUE_FLAGS.has(flag) && !word.includes('=')) i++;
  }
  return kept.length === 0 ? undefined : kept.join(' ');
}

/**
 * instanceEnv is the environment of a new instance: ours without CONTROLLER_SECRET_ENV and the
 * `secretEnv` the config names (configSecretEnv), with the inspector flags taken out of our
 * NODE_OPTIONS (withoutInspectorFlags), its stop timeout (STOP_TIMEOUT_ENV, when given), then the
 * group's `env` (which may name any of them on purpose: it is then passed, NODE_OPTIONS as given),
 * then the port. Pure.
 */
export function instanceEnv(
  parent: NodeJS.ProcessEnv,
  groupEnv: Readonly<Record<string, string>>,
  portEnv: string,
  port: number,
  stopTimeoutMs?: number,
  secretEnv: readonly string[] = [],
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...parent };
  for (const name of [...CONTROLLER_SECRET_ENV, ...secretEnv]) delete env[name];
  // `--inspect` meant for Scaleplane (NODE_OPTIONS=--inspect scaleplane up) reached every Node
  // instance: each tried the same inspector port, and a `--inspect-brk` held each app at its first
  // line. As a process manager would, the instances get the rest of NODE_OPTIONS (--require hooks,
  // --max-old-space-size…) but not the debugger; a group whose `env` sets NODE_OPTIONS gets its own.
  if (env.NODE_OPTIONS !== undefined) {
    const nodeOptions = withoutInspectorFlags(env.NODE_OPTIONS);
    if (nodeOptions === undefined) delete env.NODE_OPTIONS;
    else env.NODE_OPTIONS = nodeOptions;
  }
  if (stopTimeoutMs !== undefined) env[STOP_TIMEOUT_ENV] = String(stopTimeoutMs);
  return { ...env, ...groupEnv, [portEnv]: String(port) };
}

import { mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

/**
 * defaultInstanceLogDir is where adoptable local instances (those recorded in a state store) log
 * when no folder is configured: a folder of this user's, never a shared one. Before, it was the
 * shared /tmp, where any other local user could create `scaleplane-web-1.log` (or its `.prev`)
 * first; a controller running as a normal user could then neither move it aside nor replace it
 * (sticky /tmp: EPERM), and that instance never started. In order: systemd's `StateDirectory=`
 * (`$STATE_DIRECTORY`, kept across restarts, unlike `$RUNTIME_DIRECTORY`), `$XDG_STATE_HOME`
 * (when absolute, as the XDG spec requires), `~/.local/state`; each + `scaleplane/logs`.
 * A successor finds each instance's file by the path recorded with it, so two controllers that
 * resolve this differently (two units) still agree on where an adopted instance writes.
 */
export function defaultInstanceLogDir(env: NodeJS.ProcessEnv = process.env, home = homedir()): string {
  const stateDirectory = env.STATE_DIRECTORY?.split(':')[0];
  if (stateDirectory && isAbsolute(stateDirectory)) return join(stateDirectory, 'logs');
  const xdg = env.XDG_STATE_HOME;
  const base = xdg && isAbsolute(xdg) ? xdg : join(home, '.local', 'state');
  return join(base, 'scaleplane', 'logs');
}

/**
 * ensurePrivateDir creates `dir` (and its parents) if missing, the new ones 0700: the files in it
 * hold instances' output, which no other local user may read. An existing folder is left as it is
 * (a configured one is the user's choice).
 */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

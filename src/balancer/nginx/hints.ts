/**
 * nginxHint is what to check after a failed nginx command, in parentheses with a leading space, or
 * '' when its output names nothing known. NGINX's own words point at nginx.conf, not at what is
 * wrong with the way the include file is wired in:
 * - `host not found in upstream "scaleplane_web"`: the file that defines it is not included (or
 *   nginx.conf proxies to a group that renders no upstream, or names group `web-api`'s upstream
 *   `scaleplane_web-api`, which is `scaleplane_web_api`);
 * - `"upstream" directive is not allowed here in <include file>`: included outside `http {}`;
 * - the shell's `nginx: not found` (exit 127): not installed, or not on Scaleplane's PATH (a systemd
 *   unit's PATH may lack /usr/sbin).
 */
export function nginxHint(err: unknown, stderr: string, includeFile: string, rendered: string): string {
  const missing = /host not found in upstream "(scaleplane_[A-Za-z0-9_-]+)"/.exec(stderr)?.[1];
  if (missing !== undefined) {
    const underscored = missing.replace(/-/g, '_');
    if (underscored !== missing && rendered.includes(`\nupstream ${underscored} {`)) {
      return ` (upstream names have "_" for a group name's "-": proxy_pass http://${underscored}; in nginx.conf)`;
    }
    if (rendered.includes(`\nupstream ${missing} {`)) {
      return ` (${includeFile} defines upstream ${missing}, but nginx does not see it: include ${includeFile} in nginx.conf, inside http {})`;
    }
    const defined = [...rendered.matchAll(/^upstream (\S+) \{/gm)].map((m) => m[1]);
    return ` (no group renders upstream ${missing}; ${includeFile} defines ${defined.length > 0 ? defined.join(', ') : 'none'})`;
  }
  if (stderr.includes('"upstream" directive is not allowed here') && stderr.includes(includeFile)) {
    return ` (${includeFile} holds upstream blocks: include it inside http {}, not at the top level or in a server {})`;
  }
  if (
    (err as { code?: unknown }).code === 127 ||
    /(^|: )[^\s:]*nginx[^\s:]*: (command )?not found/.test(stderr)
  ) {
    return ' (nginx not found: install it, or name it by its full path in test_command and reload_command, e.g. /usr/sbin/nginx -t)';
  }
  return '';
}

/**
 * notRunningHint is what to check after a failed `nginx -s reload` that found no master to signal,
 * or '': a missing pid file (`open() "…/nginx.pid" failed`), or one a master killed by SIGKILL or
 * the OOM killer left behind, whose pid no process has (`kill(N, 1) failed (3: No such process)`).
 */
export function notRunningHint(stderr: string): string {
  if (/kill\(\d+, \d+\) failed \(3: /.test(stderr)) {
    return ' (is nginx running? the pid file names a process that is gone: its master died and left it)';
  }
  return /PID|\.pid/.test(stderr) ? ' (is nginx running?)' : '';
}

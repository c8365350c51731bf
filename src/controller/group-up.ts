import type { Instance } from '../providers/index.js';

/** GroupUpLine is the log line that says a group finished starting: its level, message and fields. */
export interface GroupUpLine {
  readonly level: 'info' | 'warn';
  readonly fields: { group: string; ready: number; desired: number };
  readonly message: string;
}

/**
 * groupUpLine words the line `scaleplane up` logs once a group's start is over. As many instances
 * ready as desired (none for a group scaled to zero): `group web is up` (info). Fewer: a warning
 * saying how many of how many are ready, since a start also ends at the warm-up bound or once a
 * failed instance was given up on (its replacement may not have started yet). Before, an app whose
 * health check never passed (a /healthz that answers 404) got `group web is up` at info level with
 * `ready: 0` in the fields only. Pure.
 */
export function groupUpLine(group: string, instances: readonly Instance[], desired: number): GroupUpLine {
  const ready = instances.filter((i) => i.state === 'ready').length;
  const fields = { group, ready, desired };
  if (ready >= desired) return { level: 'info', fields, message: `group ${group} is up` };
  return {
    level: 'warn',
    fields,
    message:
      `group ${group} is up with ${ready} of ${desired} instance(s) ready: the others are still starting ` +
      'or have not passed their health check (the lines above say why)',
  };
}

/** age renders how long ago an ISO time was: `42s`, `5m 3s`, `2h 10m`. */
export function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}

/** clock renders epoch ms as a local HH:MM:SS. */
export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

/**
 * zoneLabel names the zone every time on the page is in (the browser's): `times in UTC`, or
 * `times in Europe/Berlin (UTC+01:00)` with the offset at `ms`. Unnamed, `04:19:08` on a laptop in
 * Berlin was an hour off the server's UTC logs and journal (`time` is ISO UTC) with nothing to say so.
 */
export function zoneLabel(ms: number, zone = Intl.DateTimeFormat().resolvedOptions().timeZone): string {
  const minutes = -new Date(ms).getTimezoneOffset();
  const name = zone ?? '';
  if (minutes === 0 && (name === '' || name === 'UTC' || name === 'Etc/UTC')) return 'times in UTC';
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  const offset = `UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
  return name === '' ? `times in ${offset}` : `times in ${name} (${offset})`;
}

/**
 * axisTimes labels a time axis's ticks (epoch seconds) in the local zone: HH:MM:SS when ticks are
 * less than a minute apart, else HH:MM, so labels never repeat. Asked of Intl with two-digit hours
 * rather than cut from clock(): the first 5 characters of `9:05:03` (ja-JP) or `9.05.03` (fi-FI)
 * are `9:05:` and `9.05.`, and of `10시 5분 3초` (ko-KR) `10시 5`.
 */
export function axisTimes(ticks: readonly number[], locales: string | string[] = []): string[] {
  const seconds = (ticks[1] ?? 0) - (ticks[0] ?? 0) < 60;
  const format = new Intl.DateTimeFormat(locales, {
    hour: '2-digit',
    minute: '2-digit',
    ...(seconds && { second: '2-digit' }),
    hourCycle: 'h23',
  });
  return ticks.map((t) => format.format(t * 1000));
}

/**
 * countChange renders a decision's instance counts: `2 → 3`, or `2, unchanged` when it changed
 * nothing (a manual scale to the count the group had, `ManualScaleUnchanged`), which `2 → 2` read
 * as a change that did not happen.
 */
export function countChange(before: number, after: number): string {
  return before === after ? `${before}, unchanged` : `${before} → ${after}`;
}

/** fixed renders a number with at most `digits` decimals, or an em dash for null. */
export function fixed(value: number | null | undefined, digits = 1, unit = ''): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return `${Number(value.toFixed(digits))}${unit}`;
}

/**
 * tokenProblem says why a pasted token cannot be sent, or undefined when it can. A header carries
 * only characters up to U+00FF: fetch throws on any other (often an invisible one, such as U+200B,
 * picked up when copying from a chat or a page), which read as "Cannot reach the control API".
 */
export function tokenProblem(token: string): string | undefined {
  const chars = [...token];
  const at = chars.findIndex((c) => c.codePointAt(0)! > 0xff);
  if (at === -1) return undefined;
  const code = chars[at]!.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
  return `The token has a character a request header cannot carry (U+${code}, character ${at + 1}), often an invisible one picked up when copying. Paste it again.`;
}

/**
 * markLabel is a decision mark's text alternative, what a screen reader announces when the mark on
 * a chart takes the focus: its time, source, count change, reason codes and message, as the hover
 * tooltip shows them. Before, the marks were drawn on the canvas only, and the mouse alone reached them.
 */
export function markLabel(d: {
  t: number;
  source: string;
  before: number;
  after: number;
  reasons: readonly string[];
  message: string;
  count?: number;
}): string {
  const reasons = d.reasons.length > 0 ? ` Reasons: ${d.reasons.join(', ')}.` : '';
  const repeats = d.count !== undefined && d.count > 1 ? ` Made ${d.count} times.` : '';
  const message = d.message === '' ? '' : ` ${d.message}`;
  const change =
    d.before === d.after ? `${d.before} instances, unchanged` : `${d.before} → ${d.after} instances`;
  return `Scaling decision at ${clock(d.t)} (${d.source}): ${change}.${reasons}${repeats}${message}`;
}

/**
 * servingShortfall says how many of a group's ready instances serve, when health checks took some
 * out of rotation, as `status` does (`1/1 ready, 0 serving (1 unhealthy)`); undefined when all
 * serve. Counted from the instances the stream sends, as the API counts `serving`: ready and not
 * `unhealthy`. Before, the header read `1 / 1` while the only instance answered 503 and served nothing.
 */
export function servingShortfall(group: {
  instances: readonly { state: string; health: string }[];
}): { serving: number; unhealthy: number } | undefined {
  const ready = group.instances.filter((i) => i.state === 'ready');
  const serving = ready.filter((i) => i.health !== 'unhealthy').length;
  if (serving === ready.length) return undefined;
  return { serving, unhealthy: ready.length - serving };
}

/**
 * Port ranges of local instances (pure). A port found by bind(0) and closed again is free only at
 * that moment: until the instance binds it, the kernel may hand it to any other bind(0) or to an
 * outgoing connection as its source port, since both draw from ip_local_port_range. A port below
 * (or above) that range is never handed out by the kernel; only a program that asks for it by
 * number takes it. Kubernetes NodePorts (30000-32767) sit below the default range for that reason.
 */
import type { PortRange } from '../../config/types.js';

export type { PortRange } from '../../config/types.js';

/** EPHEMERAL_RANGE_PATH is where Linux keeps the range bind(0) and connect() take ports from. */
export const EPHEMERAL_RANGE_PATH = '/proc/sys/net/ipv4/ip_local_port_range';

/** PREFERRED_PORT_RANGE is the default port_range when it lies outside the ephemeral range. */
export const PREFERRED_PORT_RANGE: PortRange = { low: 20000, high: 29999 };

/** LOWEST_DEFAULT_PORT: a computed default stays above the ports services commonly listen on. */
const LOWEST_DEFAULT_PORT = 10000;

/** MIN_DEFAULT_PORTS is the fewest ports a computed default range holds; fewer: bind(0) instead. */
export const MIN_DEFAULT_PORTS = 1000;

/** MAX_DEFAULT_PORTS caps a computed default range's size (as PREFERRED_PORT_RANGE's). */
const MAX_DEFAULT_PORTS = 10000;

/** formatPortRange writes a range as port_range is written: `20000-29999`. */
export function formatPortRange(range: PortRange): string {
  return `${range.low}-${range.high}`;
}

/** portCount is how many ports a range holds. */
export function portCount(range: PortRange): number {
  return range.high - range.low + 1;
}

/**
 * parsePortRange reads `LOW-HIGH` (each 1-65535, LOW ≤ HIGH). It throws an Error saying what is
 * wrong, for the config to put under the key's path.
 */
export function parsePortRange(text: string): PortRange {
  const match = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(text);
  if (match === null) throw new Error(`${JSON.stringify(text)} is not a port range such as 20000-29999`);
  const low = Number(match[1]);
  const high = Number(match[2]);
  for (const port of [low, high]) {
    if (!(port >= 1 && port <= 65535)) throw new Error(`port ${port} is outside 1-65535`);
  }
  if (low > high) throw new Error(`reversed: ${low} is above ${high} (write the lower port first)`);
  return { low, high };
}

/** parseEphemeralRange reads ip_local_port_range's text (`32768\t60999`); undefined when malformed. */
export function parseEphemeralRange(text: string): PortRange | undefined {
  const match = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (match === null) return undefined;
  const low = Number(match[1]);
  const high = Number(match[2]);
  return low >= 1 && low <= high && high <= 65535 ? { low, high } : undefined;
}

/** overlap is the part two ranges share, or undefined. */
export function overlap(a: PortRange, b: PortRange): PortRange | undefined {
  const low = Math.max(a.low, b.low);
  const high = Math.min(a.high, b.high);
  return low <= high ? { low, high } : undefined;
}

/**
 * defaultPortRange is the range instances get ports from when port_range is not set, computed
 * from the ephemeral range (undefined: unknown, not Linux). In order:
 * 1. PREFERRED_PORT_RANGE (20000-29999), or its larger part outside the ephemeral range;
 * 2. the ports right below the ephemeral range, down to 10000 (at most 10000 of them);
 * 3. the ports right above it (at most 10000);
 * each only with at least MIN_DEFAULT_PORTS ports. Undefined when none fits (or the ephemeral
 * range is unknown): ports then come from bind(0), as before port ranges.
 */
export function defaultPortRange(ephemeral: PortRange | undefined): PortRange | undefined {
  if (ephemeral === undefined) return undefined;
  const preferred = PREFERRED_PORT_RANGE;
  const candidates: PortRange[] = [
    { low: preferred.low, high: Math.min(preferred.high, ephemeral.low - 1) },
    { low: Math.max(preferred.low, ephemeral.high + 1), high: preferred.high },
    { low: Math.max(LOWEST_DEFAULT_PORT, ephemeral.low - MAX_DEFAULT_PORTS), high: ephemeral.low - 1 },
    { low: ephemeral.high + 1, high: Math.min(65535, ephemeral.high + MAX_DEFAULT_PORTS) },
  ];
  const [belowPreferred, abovePreferred, ...rest] = candidates;
  // Of the preferred range's two parts, the larger; then below, then above the ephemeral range.
  const ordered =
    portCount(abovePreferred!) > portCount(belowPreferred!)
      ? [abovePreferred!, belowPreferred!, ...rest]
      : candidates;
  return ordered.find((range) => portCount(range) >= MIN_DEFAULT_PORTS);
}

/**
 * largestRangeOutside is the largest run of ports in `within` that none of `avoid` holds (the
 * lowest of equal runs), or undefined when `avoid` covers all of `within`. Test servers take
 * their ports from it, outside both the ephemeral range and defaultPortRange.
 */
export function largestRangeOutside(
  within: PortRange,
  avoid: readonly (PortRange | undefined)[],
): PortRange | undefined {
  const taken = avoid
    .filter((range): range is PortRange => range !== undefined)
    .sort((a, b) => a.low - b.low);
  let best: PortRange | undefined;
  let low = within.low;
  for (const range of [...taken, { low: within.high + 1, high: within.high + 1 }]) {
    const gap = { low, high: Math.min(range.low - 1, within.high) };
    if (gap.low <= gap.high && (best === undefined || portCount(gap) > portCount(best))) best = gap;
    low = Math.max(low, range.high + 1);
  }
  return best;
}

/**
 * portRangeWarning says why a configured range may still lose ports to the race it avoids: the
 * part it shares with the ephemeral range. Undefined when it shares none (or that range is unknown).
 */
export function portRangeWarning(
  field: string,
  range: PortRange,
  ephemeral: PortRange | undefined,
): string | undefined {
  const shared = ephemeral && overlap(range, ephemeral);
  if (shared === undefined) return undefined;
  return `${field} ${formatPortRange(range)} overlaps this machine's ephemeral ports ${formatPortRange(ephemeral!)} (${EPHEMERAL_RANGE_PATH}) in ${formatPortRange(shared)}: the kernel may hand such a port to another program's bind(0) or outgoing connection between the check and the instance's bind; choose ports outside ${formatPortRange(ephemeral!)}`;
}

/**
 * choosePort picks a port of `range` that `skip` does not refuse (held by an instance, found in
 * use): a random one, so that controllers sharing a range rarely pick the same, then the next
 * ones up, wrapping around. `random` is in [0, 1). Undefined when every port is skipped.
 */
export function choosePort(
  range: PortRange,
  skip: (port: number) => boolean,
  random: () => number,
): number | undefined {
  const size = portCount(range);
  const start = Math.min(size - 1, Math.floor(random() * size));
  for (let step = 0; step < size; step++) {
    const port = range.low + ((start + step) % size);
    if (!skip(port)) return port;
  }
  return undefined;
}

/**
 * Durations ("1m30s") and sizes ("512Mi") as written in scaleplane.yaml.
 */

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  d: 86_400_000,
  h: 3_600_000,
  m: 60_000,
  s: 1_000,
  ms: 1,
};

// `ms` must come before `m` so that "250ms" is not read as 250 minutes followed by junk.
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|d|h|m|s)/y;
const BARE_NUMBER = /^\d+(?:\.\d+)?$/;

/**
 * parseDuration turns `250ms`, `30s`, `5m`, `1h`, `1m30s`, `1.5s` or a bare number of seconds
 * (as NGINX reads `30`) into whole milliseconds. Units are ms, s, m, h and d, each at most once and
 * largest first. Throws an Error naming the bad input.
 */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return secondsToMs(value, value);
  const text = value.trim();
  if (BARE_NUMBER.test(text)) return secondsToMs(Number(text), value);
  if (text.length === 0) throw durationError(value);
  let total = 0;
  let lastUnitMs = Number.POSITIVE_INFINITY;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < text.length) {
    const match = DURATION_PART.exec(text);
    if (!match) throw durationError(value);
    const unitMs = DURATION_UNITS_MS[match[2]!]!;
    if (unitMs >= lastUnitMs) throw durationError(value, 'units must appear once each, largest first');
    lastUnitMs = unitMs;
    total += Number(match[1]) * unitMs;
  }
  return Math.round(total);
}

function secondsToMs(seconds: number, original: string | number): number {
  if (!Number.isFinite(seconds) || seconds < 0) throw durationError(original);
  return Math.round(seconds * 1000);
}

function durationError(value: string | number, detail?: string): Error {
  const hint = detail ?? 'use a number of seconds or units ms, s, m, h, d such as 250ms, 30s, 1m30s';
  return new Error(`invalid duration ${JSON.stringify(value)}: ${hint}`);
}

// Kubernetes quantity semantics: decimal suffixes are powers of 1000, `i` suffixes powers of 1024.
const SIZE_UNITS_BYTES: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

const SIZE = /^(\d+(?:\.\d+)?)([kKMGT]i?)?$/;

/**
 * parseSize turns `512Mi`, `2Gi`, `100M`, `1G` or a number of bytes into bytes, with Kubernetes
 * semantics (`M` = 10^6, `Mi` = 2^20). Fractions round up to a whole byte. Throws an Error naming the
 * bad input.
 */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') {
    if (!Number.isFinite(value) || value < 0) throw sizeError(value);
    return Math.ceil(value);
  }
  const match = SIZE.exec(value.trim());
  const multiplier = match ? SIZE_UNITS_BYTES[match[2] ?? ''] : undefined;
  if (!match || multiplier === undefined) throw sizeError(value);
  return Math.ceil(Number(match[1]) * multiplier);
}

function sizeError(value: string | number): Error {
  return new Error(
    `invalid size ${JSON.stringify(value)}: use bytes or a suffix k, M, G, T, Ki, Mi, Gi, Ti such as 512Mi or 2G`,
  );
}

// What a write of our HPA (`mode: hpa`) puts in `spec.metrics` and `spec.behavior` when another
// client (`kubectl edit`) changed them since Scaleplane last wrote them. Pure: the provider writes
// what `hpaMetricsToWrite` and `hpaFieldToWrite` give and logs what they say. As with other hand
// edits (a `kubectl scale`, a partition set during a roll), another client's metrics or behavior are
// left as set while `scaling` is unchanged, and a write that does replace them (the configured ones
// changed) names what it replaced. Before, every write of the HPA's bounds put the configured cpu
// target and behavior back over hand-edited ones without a word.

/** HpaMetricsWrite is what to write in the HPA's `spec.metrics`, and whose they are. */
export interface HpaMetricsWrite {
  metrics: unknown[];
  /**
   * `configured`: Scaleplane's (the HPA held them, or nothing else); `kept`: another client's, left
   * as set; `replaced`: Scaleplane's, written over another client's (`replaced` names them).
   */
  source: HpaFieldSource;
  /** Another client's metrics the write replaces (`source: 'replaced'`). */
  replaced?: unknown[];
}

/**
 * HpaFieldSource says whose a field of the HPA's spec a write of ours puts is: `configured`,
 * Scaleplane's (the HPA held it, or nothing else); `kept`, another client's, left as set;
 * `replaced`, Scaleplane's, written over another client's.
 */
export type HpaFieldSource = 'configured' | 'kept' | 'replaced';

/** HpaFieldWrite is what to write in one field of the HPA's spec (`metrics`, `behavior`), and whose it is. */
export interface HpaFieldWrite<T> {
  value: T;
  source: HpaFieldSource;
  /** Another client's value the write replaces (`source: 'replaced'`; it may be absent: undefined). */
  replaced?: T;
}

/**
 * hpaFieldToWrite decides one field of the HPA's spec for a write of ours: `configured` is what
 * `scaling` says now, `written` what this process last wrote (undefined before its first write:
 * whatever is stored counts as another client's), `stored` what the HPA holds as read, `same` how
 * two values compare (the API server may default what it stores). A stored value that is neither
 * ours now nor the one last written is another client's: kept while the configured one is the one
 * last written, replaced (and named) once the configuration changed it.
 */
export function hpaFieldToWrite<T>(
  configured: T,
  written: { value: T } | undefined,
  stored: T,
  same: (a: T, b: T) => boolean = sameJson,
): HpaFieldWrite<T> {
  if (same(stored, configured) || (written !== undefined && same(stored, written.value)))
    return { value: configured, source: 'configured' };
  if (written !== undefined && same(configured, written.value)) return { value: stored, source: 'kept' };
  return { value: configured, source: 'replaced', replaced: stored };
}

/**
 * hpaMetricsToWrite decides the HPA's `spec.metrics` for a write of ours (see `hpaFieldToWrite`):
 * `configured` are those `scaling` says now, `written` those this process last wrote (undefined
 * before its first write), `stored` those the HPA holds as read (none: the configured ones).
 */
export function hpaMetricsToWrite(
  configured: unknown[],
  written: unknown[] | undefined,
  stored: unknown[] | undefined,
): HpaMetricsWrite {
  if (stored === undefined) return { metrics: configured, source: 'configured' };
  const { value, source, replaced } = hpaFieldToWrite(
    configured,
    written === undefined ? undefined : { value: written },
    stored,
  );
  return { metrics: value, source, ...(source === 'replaced' && { replaced }) };
}

/**
 * describeHpaMetrics names metrics in a log line: `cpu target 60 %` for the one cpu Utilization
 * metric Scaleplane writes, else the metrics as JSON.
 */
export function describeHpaMetrics(metrics: unknown[]): string {
  const [only] = metrics as {
    type?: string;
    resource?: { name?: string; target?: Record<string, unknown> };
  }[];
  const target = only?.resource?.target;
  if (
    metrics.length === 1 &&
    only?.type === 'Resource' &&
    only.resource?.name === 'cpu' &&
    target?.type === 'Utilization' &&
    Object.keys(target).length === 2
  )
    return `cpu target ${target.averageUtilization} %`;
  return `metrics ${JSON.stringify(metrics)}`;
}

/** sameJson compares two JSON values whatever the order of their keys (the API server writes its own). */
export function sameJson(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}

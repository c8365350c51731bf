// What a write of our HPA (`mode: hpa`) puts in `spec.metrics` when another client (`kubectl edit`)
// changed them since Scaleplane last wrote them. Pure: the provider writes what `hpaMetricsToWrite`
// gives and logs what it says. As with other hand edits (a `kubectl scale`, a partition set during a
// roll), another client's metrics are left as set while `scaling` is unchanged, and a write that
// does replace them (the configured target changed) names what it replaced. Before, every write of
// the HPA's bounds put the configured cpu target back over a hand-edited one without a word.

/** HpaMetricsWrite is what to write in the HPA's `spec.metrics`, and whose they are. */
export interface HpaMetricsWrite {
  metrics: unknown[];
  /**
   * `configured`: Scaleplane's (the HPA held them, or nothing else); `kept`: another client's, left
   * as set; `replaced`: Scaleplane's, written over another client's (`replaced` names them).
   */
  source: 'configured' | 'kept' | 'replaced';
  /** Another client's metrics the write replaces (`source: 'replaced'`). */
  replaced?: unknown[];
}

/**
 * hpaMetricsToWrite decides the HPA's `spec.metrics` for a write of ours: `configured` are those
 * `scaling` says now, `written` those this process last wrote (undefined before its first write:
 * whatever is stored counts as another client's), `stored` those the HPA holds as read. Stored
 * metrics that are neither ours now nor the ones last written are another client's: kept while the
 * configured ones are those last written, replaced (and named) once the configuration changed them.
 */
export function hpaMetricsToWrite(
  configured: unknown[],
  written: unknown[] | undefined,
  stored: unknown[] | undefined,
): HpaMetricsWrite {
  if (stored === undefined || same(stored, configured) || (written !== undefined && same(stored, written)))
    return { metrics: configured, source: 'configured' };
  if (written !== undefined && same(configured, written)) return { metrics: stored, source: 'kept' };
  return { metrics: configured, source: 'replaced', replaced: stored };
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

/** same compares two JSON values whatever the order of their keys (the API server writes its own). */
function same(a: unknown, b: unknown): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : v,
  );
}

import type {
  GroupStatus,
  JournalEntry,
  MetricStatus,
  MetricUnit,
  StartupStatus,
} from '../controller/index.js';
import { formatStartup } from '../policy/index.js';
import type { InstanceSize } from '../providers/index.js';

/** formatStatus renders groups as a compact table for people. */
export function formatStatus(groups: GroupStatus[]): string {
  const lines: string[] = [];
  for (const g of groups) {
    const metrics = g.metrics.map(formatMetric).join(', ');
    lines.push(
      `${g.name}  ${g.ready}/${g.desired} ready${servingNote(g)}  (min ${g.minInstances}, max ${g.maxInstances}, ${scaling(g, metrics)})`,
    );
    if (g.scaledByError) lines.push(`  ${g.scaledBy} not read: ${g.scaledByError}`);
    if (g.startup?.horizon !== undefined) lines.push(`  ${formatForecast(g.startup, g.startup.horizon)}`);
    for (const i of g.instances) {
      lines.push(
        `  ${i.id.padEnd(10)} ${i.address.padEnd(22)} ${i.state.padEnd(9)} ${i.health.padEnd(9)} in-flight ${i.inFlight}${i.pid ? `  pid ${i.pid}` : ''}${i.size ? `  ${formatSize(i.size)}` : ''}`,
      );
    }
    if (g.lastDecision) lines.push(`  last decision: ${formatEvent(g.lastDecision)}`);
  }
  return lines.join('\n');
}

/** scaling says who scales the group: the engine's autoscaler (mode: hpa), Scaleplane, or no one. */
function scaling(g: GroupStatus, metrics: string): string {
  if (g.scaledBy) return `scaled by its ${g.scaledBy}${metrics ? `: ${metrics}` : ''}`;
  return g.autoscaling ? `autoscaled: ${metrics}` : 'manual';
}

/**
 * formatSize renders an instance's size as `scaleplane resize` takes it: `cpu 0.5, memory 256Mi`,
 * or an instance type. Before, the instance row left it out: after a resize nothing in `status`
 * told a resized instance from one still on the old size.
 */
export function formatSize(size: InstanceSize): string {
  const parts = [
    ...(size.cpu !== undefined ? [`cpu ${size.cpu}`] : []),
    ...(size.memory !== undefined ? [`memory ${formatBytes(size.memory)}`] : []),
    ...(size.instanceType !== undefined ? [size.instanceType] : []),
  ];
  return parts.join(', ');
}

/** servingNote says how many ready instances serve, when health checks took some out of rotation. */
function servingNote(g: GroupStatus): string {
  if (g.serving === undefined || g.serving >= g.ready) return '';
  return `, ${g.serving} serving (${g.ready - g.serving} unhealthy)`;
}

/**
 * formatMetric renders a metric's average against its target in the metric's unit: `cpu 12.3% /
 * target 50%`, `latency 80.0ms / target 200ms`, and bytes in the binary unit the target is a whole
 * number of (`memory 50.0Mi / target 100Mi`, as `average_value: 100Mi` was written), the average in
 * the same unit so the two compare at a glance. Before, bytes printed raw (`52428800.0 / target
 * 104857600`) and no figure said its unit.
 */
export function formatMetric(m: MetricStatus): string {
  const bytes = m.unit === 'bytes' ? byteUnit(m.target) : undefined;
  const unit = bytes?.suffix ?? (m.unit === 'bytes' ? '' : suffix(m.unit));
  const scale = bytes?.size ?? 1;
  const average = m.average === null ? 'n/a' : `${(m.average / scale).toFixed(1)}${unit}`;
  return `${m.name} ${average} / target ${trim((m.target / scale).toFixed(2))}${unit}`;
}

/** formatBytes renders bytes in the largest binary unit they are a whole number of (`104857600` → `100Mi`), else to two decimals of the largest they reach. */
export function formatBytes(bytes: number): string {
  const unit = byteUnit(bytes);
  return unit ? `${trim((bytes / unit.size).toFixed(2))}${unit.suffix}` : String(bytes);
}

/** A fixed figure without the trailing zeros of its decimals (`100.00` → `100`, `0.50` → `0.5`). */
function trim(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

function suffix(unit: MetricUnit | undefined): string {
  return unit === '%' || unit === 'ms' ? unit : '';
}

const BINARY_UNITS = [
  { suffix: 'Gi', size: 1024 ** 3 },
  { suffix: 'Mi', size: 1024 ** 2 },
  { suffix: 'Ki', size: 1024 },
];

/** byteUnit is the largest binary unit `bytes` is a whole number of, else the largest it reaches; none below 1Ki. */
function byteUnit(bytes: number): { suffix: string; size: number } | undefined {
  return (
    BINARY_UNITS.find((u) => bytes >= u.size && bytes % u.size === 0) ??
    BINARY_UNITS.find((u) => bytes >= u.size)
  );
}

/** formatForecast says how far ahead a group's forecast looks and the start-up behind it. */
function formatForecast(s: StartupStatus, horizon: number): string {
  const from = s.source === 'config' ? 'scaling.startup' : s.source;
  const seen =
    s.observed === 0 || s.learnt === undefined
      ? 'none observed yet'
      : `${s.observed} observed, median ${formatStartup(s.learnt)}`;
  return `forecast ${formatStartup(horizon)} ahead: start-up ${formatStartup(s.ms)} (${from}; ${seen}) + interval`;
}

/** The longest journal source, `provider` (a kubectl scale, the HPA's own scaling): padded to 7, its messages began one column right of the others'. */
const SOURCE_WIDTH = 'provider'.length;

/**
 * formatEvent renders one journal entry on one line, starting with its `#seq` (what `--since` takes,
 * and what the JSON output, the API and the dashboard name it by), right-aligned to `seqWidth` digits
 * so a list's columns line up. A repeated decision (`count`, see DecisionJournal) starts at its first
 * time and ends `(×N, last at TIME)`: the message and the seq are the newest's.
 */
export function formatEvent(e: JournalEntry, seqWidth = 0): string {
  const line = `#${String(e.seq).padStart(seqWidth)}  ${e.firstTime ?? e.time}  ${e.group}  ${e.source.padEnd(SOURCE_WIDTH)} ${e.message}  [${e.reasons.join(', ')}]`;
  return e.count !== undefined && e.count > 1 ? `${line}  (×${e.count}, last at ${e.time})` : line;
}

/** formatEvents renders `scaleplane events`: one line per entry, seqs of one width, or `(no events)`. */
export function formatEvents(events: readonly JournalEntry[]): string {
  const seqWidth = Math.max(0, ...events.map((e) => String(e.seq).length));
  return events.map((e) => formatEvent(e, seqWidth)).join('\n') || '(no events)';
}

/**
 * formatScale renders the control API's answer to `scaleplane scale`: `web: 1 → 3`, or for a
 * request for the count the group already has `web: already 2, nothing changed` (it printed
 * `web: 2 → 2`, which reads as a change; the journal says the same, see GroupController.scale).
 */
export function formatScale(group: string, result: { previous: number; desired: number }): string {
  if (result.previous === result.desired) return `${group}: already ${result.desired}, nothing changed`;
  return `${group}: ${result.previous} → ${result.desired}`;
}

import type { GroupStatus, JournalEntry, StartupStatus } from '../controller/index.js';
import { formatStartup } from '../policy/index.js';

/** formatStatus renders groups as a compact table for people. */
export function formatStatus(groups: GroupStatus[]): string {
  const lines: string[] = [];
  for (const g of groups) {
    const metrics = g.metrics
      .map((m) => `${m.name} ${m.average === null ? 'n/a' : m.average.toFixed(1)} / target ${m.target}`)
      .join(', ');
    lines.push(
      `${g.name}  ${g.ready}/${g.desired} ready  (min ${g.minInstances}, max ${g.maxInstances}, ${g.autoscaling ? `autoscaled: ${metrics}` : 'manual'})`,
    );
    if (g.startup?.horizon !== undefined) lines.push(`  ${formatForecast(g.startup, g.startup.horizon)}`);
    for (const i of g.instances) {
      lines.push(
        `  ${i.id.padEnd(10)} ${i.address.padEnd(22)} ${i.state.padEnd(9)} ${i.health.padEnd(9)} in-flight ${i.inFlight}${i.pid ? `  pid ${i.pid}` : ''}`,
      );
    }
    if (g.lastDecision) lines.push(`  last decision: ${formatEvent(g.lastDecision)}`);
  }
  return lines.join('\n');
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

/**
 * formatEvent renders one journal entry on one line. A repeated decision (`count`, see
 * DecisionJournal) starts at its first time and ends `(×N, last at TIME)`: the message is the newest's.
 */
export function formatEvent(e: JournalEntry): string {
  const line = `${e.firstTime ?? e.time}  ${e.group}  ${e.source.padEnd(7)} ${e.message}  [${e.reasons.join(', ')}]`;
  return e.count !== undefined && e.count > 1 ? `${line}  (×${e.count}, last at ${e.time})` : line;
}

/**
 * renderSvg draws demand and the ready capacity of each compared policy over time as a plain SVG
 * polyline chart, downsampled to at most `points` columns (mean per column), with no dependency.
 */

/** PlotSeries is one line of the chart, in requests per second. */
export interface PlotSeries {
  name: string;
  values: ArrayLike<number>;
  /** Multiplier from the series' unit to req/s (capacity per instance for ready counts). */
  scale?: number;
}

// Demand in near-black, then Tableau's ten: every series of a full --compare (demand, seven
// presets, the oracle) gets a colour of its own.
const COLORS = [
  '#222222',
  '#d62728',
  '#1f77b4',
  '#2ca02c',
  '#9467bd',
  '#ff7f0e',
  '#8c564b',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
  '#e377c2',
];

/** TICK_STEPS are the x-axis spacings tried, s: the first giving at most 12 ticks wins. */
const TICK_STEPS = [60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 2 * 86_400, 7 * 86_400];

function tickLabel(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3600 === 0) return `${seconds / 3600} h`;
  return `${seconds / 60} min`;
}

/** renderSvg returns the SVG text of the chart. */
export function renderSvg(
  series: readonly PlotSeries[],
  options: { title: string; points?: number },
): string {
  const width = 1200;
  const height = 420;
  const pad = { left: 60, right: 230, top: 30, bottom: 30 };
  const n = series[0]?.values.length ?? 0;
  const columns = Math.max(1, Math.min(options.points ?? 1500, n));
  const per = n / columns;
  const lines = series.map((s) => {
    const out: number[] = [];
    for (let c = 0; c < columns; c++) {
      const from = Math.floor(c * per);
      const to = Math.max(from + 1, Math.floor((c + 1) * per));
      let sum = 0;
      for (let i = from; i < to && i < n; i++) sum += s.values[i]!;
      out.push((sum / (to - from)) * (s.scale ?? 1));
    }
    return out;
  });
  const max = Math.max(1, ...lines.flat());
  const x = (c: number) => pad.left + (c / Math.max(1, columns - 1)) * (width - pad.left - pad.right);
  const y = (v: number) => pad.top + (1 - v / max) * (height - pad.top - pad.bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${pad.left}" y="18">${escapeXml(options.title)}</text>`,
    `<line x1="${pad.left}" y1="${y(0)}" x2="${width - pad.right}" y2="${y(0)}" stroke="#999"/>`,
    `<line x1="${pad.left}" y1="${y(0)}" x2="${pad.left}" y2="${y(max)}" stroke="#999"/>`,
    `<text x="5" y="${y(max) + 4}">${Math.round(max)}</text><text x="5" y="${y(0)}">0 req/s</text>`,
  ];
  // Values are one per second of the trace window: ticks in time since its start.
  const step = TICK_STEPS.find((s) => n / s <= 12) ?? TICK_STEPS.at(-1)!;
  const xAt = (second: number) => pad.left + (second / Math.max(1, n - 1)) * (width - pad.left - pad.right);
  for (let t = step; t < n; t += step) {
    parts.push(
      `<line x1="${xAt(t).toFixed(1)}" y1="${y(0)}" x2="${xAt(t).toFixed(1)}" y2="${y(0) + 4}" stroke="#999"/>`,
      `<text x="${xAt(t).toFixed(1)}" y="${y(0) + 16}" text-anchor="middle">${tickLabel(t)}</text>`,
    );
  }
  lines.forEach((line, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = line.map((v, c) => `${x(c).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="1" points="${pts}"/>`);
    const ly = pad.top + 16 * i;
    parts.push(
      `<line x1="${width - pad.right + 10}" y1="${ly}" x2="${width - pad.right + 30}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${width - pad.right + 35}" y="${ly + 4}">${escapeXml(series[i]!.name)}</text>`,
    );
  });
  parts.push('</svg>\n');
  return parts.join('\n');
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
}

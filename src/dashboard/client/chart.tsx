import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import type { DashboardSample, DecisionMark } from '../types.js';
import { axisTimes, clock, markLabel } from './format.js';

/** SeriesSpec is one line of a chart. */
export interface SeriesSpec {
  label: string;
  key: keyof DashboardSample;
  color: string;
  unit: string;
  /** Right-hand axis. */
  right?: boolean;
  fill?: boolean;
  step?: boolean;
  dash?: number[];
  digits?: number;
}

/** ChartSpec is one chart of a group panel. */
export interface ChartSpec {
  id: string;
  title: string;
  series: SeriesSpec[];
  /** Lowest upper bound of the left axis, so an idle chart does not zoom into noise. */
  minMax?: number;
  rightMinMax?: number;
}

/** markColor says how a decision is drawn: out green, in amber, held (e.g. at max) red, startup grey. */
export function markColor(d: DecisionMark): string {
  if (d.source === 'startup') return '#7c8799';
  if (d.after > d.before) return '#3ecf8e';
  if (d.after < d.before) return '#f5a524';
  return '#f2555a';
}

function toData(samples: readonly DashboardSample[], spec: ChartSpec): uPlot.AlignedData {
  const xs = samples.map((s) => s.t / 1000);
  return [
    xs,
    ...spec.series.map((s) => samples.map((sample) => (sample[s.key] as number | null | undefined) ?? null)),
  ];
}

/**
 * TIME_STEPS are the time axis's tick steps, in seconds: whole seconds and up. uPlot's own go down
 * to milliseconds, and over the first seconds of data its half-second ticks were all labelled
 * `04:20:30 04:20:30 04:20:31` (the labels have no fractions).
 */
const TIME_STEPS = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
];

/** AXIS_FONT is uPlot's axis font (its default), which the time labels are measured in. */
const AXIS_FONT = '12px system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif';

let timeSpace: number | undefined;

/**
 * timeLabelSpace is the least distance, in CSS px, between two time ticks: the widest label
 * (`HH:MM:SS` in this browser's locale) and a gap. uPlot's default of 50 px is under the 54 px of
 * `04:19:09` in a 12 px font, so whenever its finest fitting step landed 50 to 54 px apart the labels
 * were drawn over each other.
 */
function timeLabelSpace(): number {
  if (timeSpace === undefined) {
    const ctx = document.createElement('canvas').getContext('2d');
    let width = 60;
    if (ctx) {
      ctx.font = AXIS_FONT;
      width = ctx.measureText(axisTimes([0, 1])[0]!).width;
    }
    timeSpace = Math.ceil(width) + 16;
  }
  return timeSpace;
}

function showLatest(u: uPlot): void {
  const last = (u.data[0]?.length ?? 0) - 1;
  if ((u.cursor.idx === null || u.cursor.idx === undefined) && last >= 0) u.setLegend({ idx: last });
}

/** markKey names a decision across renders and repeats, as the decisions list does. */
export function markKey(d: DecisionMark): string {
  return String(d.firstSeq ?? d.seq ?? d.t);
}

/** MarkSpot is a decision mark within the plot, placed in CSS px from the chart box's corner. */
interface MarkSpot {
  key: string;
  mark: DecisionMark;
  left: number;
  top: number;
}

/** explain fills the tooltip with a decision (time, source, change, message, reasons) and shows it over its mark. */
function explain(u: uPlot, tooltip: HTMLDivElement, d: DecisionMark): void {
  tooltip.replaceChildren();
  const head = document.createElement('div');
  head.className = 'tip-head';
  head.textContent = `${clock(d.t)} · ${d.source} · ${d.before} → ${d.after}`;
  const message = document.createElement('div');
  message.textContent = d.message;
  const reasons = document.createElement('div');
  reasons.className = 'tip-reasons';
  for (const r of d.reasons) {
    const chip = document.createElement('span');
    chip.className = 'chip';
    chip.textContent = r;
    reasons.append(chip);
  }
  tooltip.append(head, message, reasons);
  tooltip.style.display = 'block';
  place(u, tooltip, d);
}

/**
 * place centres the shown tooltip over its decision's mark, inside the chart's box. Called again on
 * each draw: a new sample moves every mark (the x range grows or slides), and a tooltip placed only
 * when its mark was focused stayed where the mark had been (seen 80 px off, clamped to the edge).
 */
function place(u: uPlot, tooltip: HTMLDivElement, d: DecisionMark): void {
  // The tooltip is placed in the chart's box, the mark in the plot area, which starts after the
  // left axis: measured in the plot area's own coordinates, the tooltip sat an axis width (52 px)
  // left of its mark, and could not reach the box's right edge.
  const box = tooltip.parentElement!.getBoundingClientRect();
  const over = u.over.getBoundingClientRect();
  const x = over.left - box.left + u.valToPos(d.t / 1000, 'x');
  const width = tooltip.offsetWidth;
  tooltip.style.left = `${Math.round(Math.max(0, Math.min(x - width / 2, box.width - width)))}px`;
}

/** spotsOf places the marks inside the x range over the plot, for their focusable stand-ins. */
function spotsOf(u: uPlot, marks: readonly DecisionMark[], box: HTMLElement): MarkSpot[] {
  const [min, max] = [u.scales.x!.min ?? 0, u.scales.x!.max ?? 0];
  const outer = box.getBoundingClientRect();
  const over = u.over.getBoundingClientRect();
  const spots: MarkSpot[] = [];
  for (const d of marks) {
    const t = d.t / 1000;
    if (t < min || t > max) continue;
    spots.push({
      key: markKey(d),
      mark: d,
      left: Math.round(over.left - outer.left + u.valToPos(t, 'x')),
      top: Math.round(over.top - outer.top),
    });
  }
  return spots;
}

function sameSpots(a: readonly MarkSpot[], b: readonly MarkSpot[]): boolean {
  return (
    a.length === b.length &&
    a.every((s, i) => s.mark === b[i]!.mark && s.left === b[i]!.left && s.top === b[i]!.top)
  );
}

function decisionsPlugin(
  decisions: { current: readonly DecisionMark[] },
  tooltip: HTMLDivElement,
  hovered: { current: DecisionMark | undefined },
  focused: { current: DecisionMark | undefined },
  onDraw: (u: uPlot) => void,
): uPlot.Plugin {
  return {
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const [min, max] = [u.scales.x!.min ?? 0, u.scales.x!.max ?? 0];
          ctx.save();
          for (const d of decisions.current) {
            const t = d.t / 1000;
            if (t < min || t > max) continue;
            const x = Math.round(u.valToPos(t, 'x', true));
            ctx.strokeStyle = markColor(d);
            ctx.fillStyle = markColor(d);
            const emphasised = hovered.current === d || focused.current === d;
            ctx.lineWidth = uPlot.pxRatio * (emphasised ? 2.5 : 1.25);
            ctx.setLineDash([4 * uPlot.pxRatio, 3 * uPlot.pxRatio]);
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            const s = 5 * uPlot.pxRatio;
            ctx.setLineDash([]);
            ctx.beginPath();
            ctx.moveTo(x - s, u.bbox.top);
            ctx.lineTo(x + s, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + s * 1.4);
            ctx.closePath();
            ctx.fill();
          }
          ctx.restore();
          const shown = hovered.current && u.over.matches(':hover') ? hovered.current : focused.current;
          if (shown && tooltip.style.display === 'block') place(u, tooltip, shown);
          onDraw(u);
        },
      ],
      // With the cursor away, the legend shows the latest values instead of dashes.
      setData: [(u) => showLatest(u)],
      setCursor: [
        (u) => {
          showLatest(u);
          const left = u.cursor.left ?? -1;
          let best: DecisionMark | undefined;
          let bestDistance = 8;
          if (left >= 0) {
            for (const d of decisions.current) {
              const distance = Math.abs(u.valToPos(d.t / 1000, 'x') - left);
              if (distance < bestDistance) {
                best = d;
                bestDistance = distance;
              }
            }
          }
          if (best !== hovered.current) {
            hovered.current = best;
            u.redraw(false, false);
          }
          // Cursors are synced across a group's charts; only the chart under the mouse explains.
          // A mark with the keyboard focus keeps its explanation while the mouse is elsewhere.
          if (!best || !u.over.matches(':hover')) {
            if (focused.current) explain(u, tooltip, focused.current);
            else tooltip.style.display = 'none';
            return;
          }
          explain(u, tooltip, best);
        },
      ],
    },
  };
}

/**
 * MARK_KEYS move the focus between a chart's decision marks, as in a WAI-ARIA toolbar: one Tab stop
 * per chart (the newest mark, or the one last focused), arrows to the older and newer ones.
 */
const MARK_KEYS: Record<string, (index: number, count: number) => number> = {
  ArrowLeft: (i) => Math.max(0, i - 1),
  ArrowUp: (i) => Math.max(0, i - 1),
  ArrowRight: (i, n) => Math.min(n - 1, i + 1),
  ArrowDown: (i, n) => Math.min(n - 1, i + 1),
  Home: () => 0,
  End: (_i, n) => n - 1,
};

/**
 * Chart draws one uPlot chart of a group's samples, with decisions on the timeline (hover: why;
 * click: select). Each mark on the canvas has a focusable stand-in over it, named by markLabel: Tab
 * reaches the chart's marks, the arrows move between them, the focused one is explained as on hover,
 * Enter selects it, Escape hides the explanation.
 */
export function Chart(props: {
  spec: ChartSpec;
  samples: readonly DashboardSample[];
  decisions: readonly DecisionMark[];
  syncKey: string;
  onSelect?: (d: DecisionMark) => void;
}) {
  const box = useRef<HTMLDivElement>(null);
  const tip = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const decisions = useRef<readonly DecisionMark[]>(props.decisions);
  const hovered = useRef<DecisionMark | undefined>(undefined);
  const focused = useRef<DecisionMark | undefined>(undefined);
  const [spots, setSpots] = useState<readonly MarkSpot[]>([]);
  const [active, setActive] = useState<string | undefined>();
  const onSelect = useRef(props.onSelect);
  decisions.current = props.decisions;
  onSelect.current = props.onSelect;

  useEffect(() => {
    const el = box.current!;
    const { spec } = props;
    const axisStyle = {
      stroke: '#8b95a7',
      grid: { stroke: 'rgba(139,149,167,0.12)', width: 1 },
      ticks: { show: false },
    };
    const unit = (right: boolean) => spec.series.find((s) => !!s.right === right)?.unit ?? '';
    const options: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height: 170,
      cursor: { sync: { key: props.syncKey }, points: { size: 6 } },
      legend: { live: true },
      scales: {
        x: { time: true },
        y: {
          range: (_u, min, max) => [Math.min(0, min ?? 0), Math.max(spec.minMax ?? 1, (max ?? 0) * 1.15)],
        },
        y2: {
          range: (_u, min, max) => [
            Math.min(0, min ?? 0),
            Math.max(spec.rightMinMax ?? 1, (max ?? 0) * 1.15),
          ],
        },
      },
      axes: [
        {
          ...axisStyle,
          font: AXIS_FONT,
          // Ticks whole seconds apart at least, and far enough apart for their labels.
          incrs: TIME_STEPS,
          space: timeLabelSpace(),
          // Seconds only when ticks are less than a minute apart, so labels never repeat.
          values: (_u, ticks) => axisTimes(ticks),
        },
        {
          ...axisStyle,
          scale: 'y',
          size: 52,
          values: (_u, ticks) => ticks.map((t) => `${+t.toFixed(2)}${unit(false)}`),
        },
        ...(spec.series.some((s) => s.right)
          ? [
              {
                ...axisStyle,
                scale: 'y2',
                side: 1 as const,
                size: 48,
                grid: { show: false },
                values: (_u: uPlot, ticks: number[]) => ticks.map((t) => `${+t.toFixed(1)}${unit(true)}`),
              },
            ]
          : []),
      ],
      series: [
        { value: (_u, v) => (v === null ? '—' : clock(v * 1000)) },
        ...spec.series.map(
          (s): uPlot.Series => ({
            label: s.label,
            scale: s.right ? 'y2' : 'y',
            stroke: s.color,
            width: 1.75,
            spanGaps: false,
            points: { show: false },
            ...(s.dash && { dash: s.dash }),
            ...(s.fill && { fill: `${s.color}22` }),
            ...(s.step && { paths: uPlot.paths.stepped!({ align: 1 }) }),
            value: (_u, v) => (v === null || v === undefined ? '—' : `${+v.toFixed(s.digits ?? 1)}${s.unit}`),
          }),
        ),
      ],
      plugins: [
        decisionsPlugin(decisions, tip.current!, hovered, focused, (u) =>
          setSpots((old) => {
            const next = spotsOf(u, decisions.current, el);
            return sameSpots(old, next) ? old : next;
          }),
        ),
      ],
    };
    const u = new uPlot(options, toData(props.samples, spec), el);
    plot.current = u;
    const click = () => {
      if (hovered.current) onSelect.current?.(hovered.current);
    };
    u.over.addEventListener('click', click);
    const resize = new ResizeObserver(() => u.setSize({ width: Math.max(200, el.clientWidth), height: 170 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, [props.spec.id, props.syncKey]);

  useEffect(() => {
    plot.current?.setData(toData(props.samples, props.spec));
  }, [props.samples]);

  useEffect(() => {
    plot.current?.redraw(false, false);
  }, [props.decisions]);

  // The Tab stop stays on the mark last focused while it is on the chart, else the newest.
  const tabStop = spots.some((s) => s.key === active) ? active : spots.at(-1)?.key;
  const focusMark = (spot: MarkSpot) => {
    focused.current = spot.mark;
    setActive(spot.key);
    const u = plot.current;
    if (!u) return;
    u.redraw(false, false);
    explain(u, tip.current!, spot.mark);
  };
  const blurMark = () => {
    focused.current = undefined;
    const u = plot.current;
    if (!u) return;
    u.redraw(false, false);
    if (!hovered.current || !u.over.matches(':hover')) tip.current!.style.display = 'none';
  };
  const onMarkKey = (e: KeyboardEvent) => {
    const buttons = [...(e.currentTarget as HTMLElement).querySelectorAll<HTMLButtonElement>('button')];
    const at = buttons.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === 'Escape') {
      // Dismissable without moving the focus (WCAG 1.4.13).
      tip.current!.style.display = 'none';
      return;
    }
    const move = MARK_KEYS[e.key];
    if (!move || at === -1) return;
    e.preventDefault();
    buttons[move(at, buttons.length)]?.focus();
  };

  return (
    <figure class="chart" data-chart={props.spec.id}>
      <figcaption>{props.spec.title}</figcaption>
      <div class="chart-box" ref={box}>
        {spots.length > 0 && (
          <div
            class="marks"
            role="toolbar"
            aria-label={`Scaling decisions on ${props.spec.title}: arrow keys move between them`}
            onKeyDown={onMarkKey}
          >
            {spots.map((spot) => (
              <button
                type="button"
                class="mark"
                key={spot.key}
                data-mark={spot.key}
                tabIndex={spot.key === tabStop ? 0 : -1}
                aria-label={markLabel(spot.mark)}
                style={{ left: `${spot.left}px`, top: `${spot.top}px` }}
                onFocus={() => focusMark(spot)}
                onBlur={blurMark}
                onClick={() => onSelect.current?.(spot.mark)}
              />
            ))}
          </div>
        )}
        <div class="tip" ref={tip} style={{ display: 'none' }} />
      </div>
    </figure>
  );
}

/** CHARTS are the charts of every group panel. */
export const CHARTS: ChartSpec[] = [
  {
    id: 'traffic',
    title: 'Requests & errors',
    minMax: 5,
    rightMinMax: 5,
    series: [
      { label: 'req/s', key: 'rps', color: '#5b9cff', unit: '/s', fill: true },
      { label: 'errors', key: 'errorRate', color: '#f2555a', unit: '%', right: true, digits: 2 },
    ],
  },
  {
    id: 'latency',
    title: 'Latency',
    minMax: 10,
    series: [
      { label: 'p50', key: 'p50', color: '#3ecf8e', unit: 'ms' },
      { label: 'p99', key: 'p99', color: '#c084fc', unit: 'ms' },
    ],
  },
  {
    id: 'cpu',
    title: 'CPU per instance',
    minMax: 20,
    series: [{ label: 'cpu', key: 'cpu', color: '#f5a524', unit: '%', fill: true }],
  },
  {
    id: 'instances',
    title: 'Instances',
    minMax: 2,
    series: [
      { label: 'desired', key: 'desired', color: '#8b95a7', unit: '', step: true, dash: [6, 4], digits: 0 },
      { label: 'ready', key: 'ready', color: '#22d3ee', unit: '', step: true, fill: true, digits: 0 },
    ],
  },
];

/** QUEUE_CHART is added for groups whose samples carry a queue depth. */
export const QUEUE_CHART: ChartSpec = {
  id: 'queue',
  title: 'Queue depth',
  minMax: 10,
  series: [{ label: 'depth', key: 'queueDepth', color: '#f472b6', unit: '', fill: true, digits: 0 }],
};

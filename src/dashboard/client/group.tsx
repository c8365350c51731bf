import { useEffect, useRef, useState } from 'preact/hooks';
import type { DashboardSample, DecisionMark, GroupSummary } from '../types.js';
import { CHARTS, Chart, markColor, markKey, QUEUE_CHART } from './chart.js';
import { age, clock, countChange, fixed, servingShortfall } from './format.js';

/** ScaleAction is what the scale buttons ask of the API. */
export interface ScaleAction {
  action: 'scale-out' | 'scale-in' | 'set';
  instances: number;
}

/** repeatsTitle says how often a repeated decision was made: `×N, first at …, last at …`. */
function repeatsTitle(d: DecisionMark): string {
  return `×${d.count}, first at ${clock(d.firstT ?? d.t)}, last at ${clock(d.t)}`;
}

function Decisions(props: {
  decisions: readonly DecisionMark[];
  selected: DecisionMark | undefined;
  onSelect: (d: DecisionMark) => void;
}) {
  const recent = props.decisions.slice(-12).reverse();
  return (
    <section class="decisions">
      <h3>Decisions</h3>
      {recent.length === 0 && <p class="muted">No scaling decisions yet.</p>}
      <ol>
        {recent.map((d) => (
          <li key={`${d.firstSeq ?? d.seq ?? d.t}`}>
            <button
              type="button"
              class={props.selected === d ? 'row selected' : 'row'}
              onClick={() => props.onSelect(d)}
              title={d.message}
            >
              <span class="dot" style={{ background: markColor(d) }} />
              <span class="when">{clock(d.t)}</span>
              {/* The dot's colour alone told a start-up (or manual) decision from the policy's. */}
              {d.source !== 'policy' && <span class="source">{d.source}</span>}
              <span class={d.before === d.after ? 'change unchanged' : 'change'}>
                {countChange(d.before, d.after)}
              </span>
              {d.count !== undefined && d.count > 1 && (
                <span class="repeats" title={repeatsTitle(d)}>
                  ×{d.count}
                </span>
              )}
              <span class="reasons">
                {d.reasons.map((r) => (
                  <span class="chip" key={r}>
                    {r}
                  </span>
                ))}
              </span>
            </button>
          </li>
        ))}
      </ol>
      {props.selected && (
        <div class="decision-detail" data-testid="decision-detail">
          <strong>
            {clock(props.selected.t)} · {props.selected.source} ·{' '}
            {countChange(props.selected.before, props.selected.after)}
          </strong>
          {props.selected.count !== undefined && props.selected.count > 1 && (
            <p data-testid="decision-repeats">{repeatsTitle(props.selected)}</p>
          )}
          <p>{props.selected.message}</p>
        </div>
      )}
    </section>
  );
}

function Instances(props: { group: GroupSummary; now: number }) {
  return (
    <table class="instances">
      <thead>
        <tr>
          <th>instance</th>
          <th>address</th>
          <th>state</th>
          <th>health</th>
          <th class="num">in-flight</th>
          <th class="num">age</th>
        </tr>
      </thead>
      <tbody>
        {props.group.instances.map((i) => (
          <tr key={i.id} data-instance={i.id}>
            <td>{i.id}</td>
            <td class="mono">{i.address}</td>
            <td>
              <span class={`badge state-${i.state}`}>{i.state}</span>
            </td>
            <td>
              <span class={`badge health-${i.health}`}>{i.health}</span>
            </td>
            <td class="num">{i.inFlight}</td>
            <td class="num">{age(i.startedAt, props.now)}</td>
          </tr>
        ))}
        {props.group.instances.length === 0 && (
          <tr>
            <td colSpan={6} class="muted">
              No instances.
            </td>
          </tr>
        )}
      </tbody>
    </table>
  );
}

function ScaleControls(props: {
  group: GroupSummary;
  onScale: (a: ScaleAction) => Promise<string>;
  /** The name of the `read` token signed in: every control is disabled, saying why. */
  readOnlyToken?: string;
}) {
  const { group } = props;
  // A read token was offered every button, then the dialog, then a 403 after Confirm.
  const readOnly = props.readOnlyToken !== undefined;
  // The field follows the group's count until someone types in it: it used to keep the count from
  // when the page opened, so after the autoscaler moved from 1 to 4, Set offered 1.
  const [count, setCount] = useState(String(group.desired));
  const [edited, setEdited] = useState(false);
  useEffect(() => {
    if (!edited) setCount(String(group.desired));
  }, [group.desired, edited]);
  const [pending, setPending] = useState<ScaleAction | undefined>();
  const [message, setMessage] = useState('');
  const [busy, setBusy] = useState(false);
  const cancelButton = useRef<HTMLButtonElement>(null);
  const confirmButton = useRef<HTMLButtonElement>(null);
  const opener = useRef<HTMLElement | null>(null);
  const ask = (a: ScaleAction) => {
    setMessage('');
    opener.current = document.activeElement as HTMLElement | null;
    setPending(a);
  };
  // Keyboard users: the dialog takes the focus (on Cancel, the harmless choice), keeps it while
  // open (Tab cycles its two buttons), closes on Escape, and gives it back to the button that opened
  // it. Before, the focus stayed on that button behind the dialog.
  const open = pending !== undefined;
  useEffect(() => {
    if (open) cancelButton.current?.focus();
    else if (opener.current?.isConnected) {
      opener.current.focus();
      opener.current = null;
    }
  }, [open]);
  const onDialogKey = (e: KeyboardEvent) => {
    if (e.key === 'Escape' && !busy) {
      e.preventDefault();
      setPending(undefined);
    } else if (e.key === 'Tab') {
      e.preventDefault();
      const next = document.activeElement === cancelButton.current ? confirmButton : cancelButton;
      next.current?.focus();
    }
  };
  const target = (a: ScaleAction) =>
    a.action === 'set'
      ? a.instances
      : a.action === 'scale-out'
        ? group.desired + a.instances
        : group.desired - a.instances;
  const confirm = async () => {
    if (!pending) return;
    setBusy(true);
    try {
      setMessage(await props.onScale(pending));
      // Done with the typed count: follow the group again (its new count arrives on the stream).
      if (pending.action === 'set') setEdited(false);
    } catch (err) {
      setMessage((err as Error).message);
    } finally {
      setBusy(false);
      setPending(undefined);
    }
  };
  // An emptied field is no count (Number('') is 0, which asked to set 0 instances).
  const setN = count.trim() === '' ? Number.NaN : Number(count);
  return (
    <div class="controls">
      <button
        type="button"
        data-action="scale-in"
        disabled={readOnly || group.desired <= group.minInstances}
        onClick={() => ask({ action: 'scale-in', instances: 1 })}
      >
        − Scale in
      </button>
      <button
        type="button"
        data-action="scale-out"
        disabled={readOnly || group.desired >= group.maxInstances}
        onClick={() => ask({ action: 'scale-out', instances: 1 })}
      >
        + Scale out
      </button>
      <span class="set">
        <input
          type="number"
          aria-label="instances"
          min={group.minInstances}
          max={group.maxInstances}
          value={count}
          disabled={readOnly}
          onInput={(e) => {
            setCount((e.target as HTMLInputElement).value);
            setEdited(true);
          }}
        />
        <button
          type="button"
          data-action="set"
          disabled={readOnly || !Number.isInteger(setN)}
          onClick={() => ask({ action: 'set', instances: setN })}
        >
          Set
        </button>
      </span>
      {readOnly && (
        <span class="note" data-testid="read-only">
          Read-only token "{props.readOnlyToken}": scaling needs an admin token.
        </span>
      )}
      {message && <span class="note">{message}</span>}
      {pending && (
        <div class="modal-backdrop">
          <div
            class="modal"
            role="dialog"
            aria-modal="true"
            aria-label="Confirm scaling"
            onKeyDown={onDialogKey}
          >
            <h3>Scale {group.name}?</h3>
            <p>
              {group.desired} → <strong>{target(pending)}</strong> instances
              {pending.action === 'scale-in' && ' (the removed instances are drained first)'}. Bounds{' '}
              {group.minInstances}..
              {group.maxInstances}.
            </p>
            <div class="modal-buttons">
              <button type="button" ref={cancelButton} onClick={() => setPending(undefined)} disabled={busy}>
                Cancel
              </button>
              <button
                type="button"
                ref={confirmButton}
                class="primary"
                data-action="confirm"
                onClick={confirm}
                disabled={busy}
              >
                {busy ? 'Scaling…' : 'Confirm'}
              </button>
            </div>
          </div>
        </div>
      )}
    </div>
  );
}

/** GroupPanel is one group: header with counts and (live only) scale buttons, charts, decisions, instances. */
export function GroupPanel(props: {
  name: string;
  group?: GroupSummary;
  samples: readonly DashboardSample[];
  decisions: readonly DecisionMark[];
  now: number;
  onScale?: (a: ScaleAction) => Promise<string>;
  /** Set when the signed-in token has the `read` role: its name. */
  readOnlyToken?: string;
  bounds?: { min?: number; max?: number };
}) {
  const [picked, setSelected] = useState<DecisionMark | undefined>();
  // The selection follows its decision: a repeat arrives as a new mark (count raised, newer time)
  // that replaces the one picked, which the detail kept showing (×2 under a list that said ×3).
  const selected =
    picked === undefined
      ? undefined
      : (props.decisions.find((d) => markKey(d) === markKey(picked)) ?? picked);
  const last = props.samples.at(-1);
  const { group } = props;
  const charts = props.samples.some((s) => s.queueDepth !== undefined && s.queueDepth !== null)
    ? [...CHARTS, QUEUE_CHART]
    : CHARTS;
  const notServing = group && servingShortfall(group);
  const min = group?.minInstances ?? props.bounds?.min;
  const max = group?.maxInstances ?? props.bounds?.max;
  return (
    <section class="group" data-group={props.name}>
      <header>
        <div class="title">
          <h2>{props.name}</h2>
          {group && (
            <span class="muted">
              {group.provider}
              {group.autoscaling ? ' · autoscaled' : ' · manual'}
            </span>
          )}
        </div>
        <div class="stats">
          <Stat
            label="ready / desired"
            value={`${last?.ready ?? group?.ready ?? '—'} / ${last?.desired ?? group?.desired ?? '—'}`}
            testid="counts"
          />
          {notServing !== undefined && (
            <Stat
              label="serving"
              value={`${notServing.serving} (${notServing.unhealthy} unhealthy)`}
              testid="serving"
              warn
            />
          )}
          <Stat label="bounds" value={min === undefined ? '—' : `${min}..${max}`} />
          <Stat label="req/s" value={fixed(last?.rps, 1)} testid="rps" />
          <Stat label="p99" value={fixed(last?.p99, 1, ' ms')} />
          <Stat label="errors" value={fixed(last?.errorRate, 2, ' %')} />
          <Stat label="cpu" value={fixed(last?.cpu, 0, ' %')} />
        </div>
        {group && props.onScale && (
          <ScaleControls group={group} onScale={props.onScale} readOnlyToken={props.readOnlyToken} />
        )}
      </header>
      <div class="charts">
        {charts.map((spec) => (
          <Chart
            key={spec.id}
            spec={spec}
            samples={props.samples}
            decisions={props.decisions}
            syncKey={`g-${props.name}`}
            onSelect={setSelected}
          />
        ))}
      </div>
      <div class="lower">
        <Decisions decisions={props.decisions} selected={selected} onSelect={setSelected} />
        {group && (
          <section class="instances-box">
            <h3>Instances</h3>
            <Instances group={group} now={props.now} />
          </section>
        )}
      </div>
    </section>
  );
}

function Stat(props: { label: string; value: string; testid?: string; warn?: boolean }) {
  return (
    <div class={props.warn ? 'stat warn' : 'stat'} data-stat={props.testid}>
      <span class="value">{props.value}</span>
      <span class="label">{props.label}</span>
    </div>
  );
}

import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { addDecision, DECISIONS_PER_GROUP } from '../convert.js';
import type { DashboardSample, DecisionMark, GroupSummary, StreamHello, StreamTick } from '../types.js';
import { clock, tokenProblem, zoneLabel } from './format.js';
import { GroupPanel, type ScaleAction } from './group.js';
import { newStreamId, readEvents, UnauthorizedError } from './sse.js';

const TOKEN_KEY = 'scaleplane.token';
/** Points kept per group in the browser: 15 minutes at one per second. */
const MAX_POINTS = 900;

/**
 * refusal words an answer the sign-in did not expect with the API's own: after too many wrong
 * tokens from this address it answers 429 to every token, the right one included, until its
 * Retry-After; 'The API answered 429.' alone read as if the right token did not work either.
 */
async function refusal(res: Response): Promise<string> {
  const body = (await res.json().catch(() => ({}))) as { error?: unknown };
  const why = typeof body.error === 'string' ? `: ${body.error}` : '';
  const wait = Number(res.headers.get('retry-after') ?? '');
  const when = Number.isInteger(wait) && wait > 0 ? ` (in ${wait} s)` : '';
  return `The API answered ${res.status}${why}${when}.`;
}

function Login(props: { onToken: (token: string) => void; error: string }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(props.error);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const problem = tokenProblem(token.trim());
    if (problem !== undefined) return setError(problem);
    setBusy(true);
    setError('');
    try {
      const res = await fetch('/api/scalability/groups', {
        headers: { authorization: `Bearer ${token.trim()}` },
      });
      if (res.status === 401) setError('That token was refused.');
      else if (!res.ok) setError(await refusal(res));
      else props.onToken(token.trim());
    } catch {
      setError('Cannot reach the control API.');
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <form onSubmit={submit} aria-label="Sign in">
        <div class="brand">
          <Logo /> Scaleplane
        </div>
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autocomplete="current-password"
          placeholder="SCALEPLANE_API_KEY"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          required
        />
        <button type="submit" class="primary" disabled={busy || token.trim() === ''}>
          {busy ? 'Checking…' : 'Sign in'}
        </button>
        {error && <p class="error">{error}</p>}
        <p class="muted small">The token stays in this tab only (session storage).</p>
      </form>
    </main>
  );
}

function Logo() {
  return (
    <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
      <rect x="2" y="13" width="5" height="9" rx="1" fill="#5b9cff" />
      <rect x="9.5" y="8" width="5" height="14" rx="1" fill="#22d3ee" />
      <rect x="17" y="3" width="5" height="19" rx="1" fill="#3ecf8e" />
    </svg>
  );
}

interface LiveState {
  groups: GroupSummary[];
  samples: Record<string, DashboardSample[]>;
  decisions: Record<string, DecisionMark[]>;
}

function byGroup(decisions: DecisionMark[]): Record<string, DecisionMark[]> {
  const out: Record<string, DecisionMark[]> = {};
  for (const d of decisions) {
    out[d.group] ??= [];
    out[d.group]!.push(d);
  }
  return out;
}

/** Outage says why the live view is not live, since when and when it tries again. */
interface Outage {
  reason: string;
  since: number;
  retryAt: number;
}

/** outageReason turns a failed stream into words: fetch rejects with a TypeError when nothing answers. */
function outageReason(err: unknown): string {
  if (err === undefined) return 'The live stream ended (the API restarted or closed it)';
  if (err instanceof TypeError) return 'Cannot reach the control API';
  return err instanceof Error ? err.message : String(err);
}

/** sleep waits `ms`, or less when `signal` aborts, so no timer outlives a signed-out dashboard. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

function Dashboard(props: { token: string; onLogout: (error?: string) => void }) {
  const [state, setState] = useState<LiveState>({ groups: [], samples: {}, decisions: {} });
  const [connection, setConnection] = useState<'connecting' | 'live' | 'reconnecting'>('connecting');
  const [outage, setOutage] = useState<Outage | undefined>();
  const [hello, setHello] = useState(false);
  const [principal, setPrincipal] = useState<StreamHello['principal']>();
  const [now, setNow] = useState(Date.now());
  const logout = useRef(props.onLogout);
  logout.current = props.onLogout;

  useEffect(() => {
    const abort = new AbortController();
    // One id for every connection of this sign-in: a reconnect replaces the stream it found stalled.
    const streamId = newStreamId();
    let attempt = 0;
    const onEvent = (e: { event: string; data: string }) => {
      if (e.event === 'hello') {
        const hello = JSON.parse(e.data) as StreamHello;
        attempt = 0;
        setConnection('live');
        setOutage(undefined);
        setHello(true);
        setPrincipal(hello.principal);
        setNow(hello.serverNow ?? Date.now());
        setState({ groups: hello.groups, samples: hello.samples, decisions: byGroup(hello.decisions) });
      } else if (e.event === 'tick') {
        const tick = JSON.parse(e.data) as StreamTick;
        setNow(tick.serverNow ?? Date.now());
        setState((s) => {
          const samples = { ...s.samples };
          for (const [name, sample] of Object.entries(tick.samples)) {
            samples[name] = [...(samples[name] ?? []), sample].slice(-MAX_POINTS);
          }
          return { ...s, groups: tick.groups, samples };
        });
      } else if (e.event === 'decision') {
        const d = JSON.parse(e.data) as DecisionMark;
        setState((s) => ({
          ...s,
          decisions: {
            ...s.decisions,
            [d.group]: addDecision(s.decisions[d.group] ?? [], d, DECISIONS_PER_GROUP),
          },
        }));
      }
    };
    (async () => {
      while (!abort.signal.aborted) {
        let failure: unknown;
        try {
          await readEvents('/api/scalability/stream', props.token, onEvent, abort.signal, { streamId });
        } catch (err) {
          if (err instanceof UnauthorizedError) {
            logout.current('The API no longer accepts this token.');
            return;
          }
          failure = err;
        }
        if (abort.signal.aborted) return;
        setConnection('reconnecting');
        attempt++;
        // Say why and since when: "reconnecting…" alone over figures that stopped moving looked
        // like a quiet service, not an API that is down.
        const wait = Math.min(10_000, 500 * 2 ** attempt);
        const now = Date.now();
        setOutage((o) => ({ reason: outageReason(failure), since: o?.since ?? now, retryAt: now + wait }));
        await sleep(wait, abort.signal);
      }
    })();
    return () => abort.abort();
  }, [props.token]);

  const scale = (group: string) => async (a: ScaleAction) => {
    let res: Response;
    try {
      res = await fetch('/api/scalability/scale-group', {
        method: 'POST',
        headers: { authorization: `Bearer ${props.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ group, ...a }),
      });
    } catch {
      // fetch rejects with a bare "Failed to fetch" when nothing answers, which said neither what
      // failed nor where the change stands (the request may have arrived before the line dropped).
      throw new Error(
        `No answer from the control API: ${group} may or may not have been scaled; look at its counts before trying again.`,
      );
    }
    const body = (await res.json().catch(() => ({}))) as {
      error?: string;
      previous?: number;
      desired?: number;
    };
    if (res.status === 401) logout.current('The API no longer accepts this token.');
    if (!res.ok) throw new Error(body.error ?? `HTTP ${res.status}`);
    return `${body.previous} → ${body.desired}`;
  };

  const names = state.groups.map((g) => g.name);
  return (
    <div class="app">
      <nav>
        <div class="brand">
          <Logo /> Scaleplane
        </div>
        <span class={`conn conn-${connection}`} data-connection={connection}>
          {connection === 'live' ? 'live' : connection === 'connecting' ? 'connecting…' : 'reconnecting…'}
        </span>
        <span class="spacer" />
        <span class="zone muted small" data-testid="zone">
          {zoneLabel(now)}
        </span>
        <a href="/api/openapi.json" target="_blank" rel="noreferrer">
          API
        </a>
        <button type="button" class="ghost" onClick={() => logout.current()}>
          Sign out
        </button>
      </nav>
      {outage && (
        <p class="outage" role="alert" data-testid="outage">
          {outage.reason} (since {clock(outage.since)}); next try at {clock(outage.retryAt)}. The figures
          below stopped at {clock(outage.since)}.
        </p>
      )}
      <main data-stale={outage ? 'true' : undefined}>
        {names.length === 0 && (
          <p class="muted" data-testid="empty">
            {hello ? 'No groups are configured.' : 'Waiting for data…'}
          </p>
        )}
        {state.groups.map((g) => (
          <GroupPanel
            key={g.name}
            name={g.name}
            group={g}
            samples={state.samples[g.name] ?? []}
            decisions={state.decisions[g.name] ?? []}
            now={now}
            onScale={scale(g.name)}
            readOnlyToken={principal?.role === 'read' ? principal.name : undefined}
          />
        ))}
      </main>
    </div>
  );
}

function App() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [error, setError] = useState('');
  if (!token) {
    return (
      <Login
        error={error}
        onToken={(t) => {
          sessionStorage.setItem(TOKEN_KEY, t);
          setError('');
          setToken(t);
        }}
      />
    );
  }
  return (
    <Dashboard
      token={token}
      onLogout={(message) => {
        sessionStorage.removeItem(TOKEN_KEY);
        setError(message ?? '');
        setToken(null);
      }}
    />
  );
}

render(<App />, document.getElementById('root')!);

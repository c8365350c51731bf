import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import type { ReplaySeries } from '../types.js';
import { GroupPanel } from './group.js';

function Replay(props: { series: ReplaySeries }) {
  const { series } = props;
  const end = Math.max(0, ...series.groups.flatMap((g) => g.samples.map((s) => s.t)));
  return (
    <div class="app replay">
      <nav>
        <div class="brand">{series.title ?? 'Scaleplane replay'}</div>
        {series.subtitle && <span class="muted">{series.subtitle}</span>}
      </nav>
      <main>
        {series.summary && (
          <div class="summary">
            {Object.entries(series.summary).map(([label, value]) => (
              <div class="stat" key={label}>
                <span class="value">{String(value)}</span>
                <span class="label">{label}</span>
              </div>
            ))}
          </div>
        )}
        {series.groups.map((g) => (
          <GroupPanel
            key={g.name}
            name={g.name}
            samples={g.samples}
            decisions={g.decisions}
            now={end}
            bounds={{
              ...(g.minInstances !== undefined && { min: g.minInstances }),
              ...(g.maxInstances !== undefined && { max: g.maxInstances }),
            }}
          />
        ))}
      </main>
    </div>
  );
}

const data = document.getElementById('replay-data')?.textContent ?? '{"groups":[]}';
render(<Replay series={JSON.parse(data) as ReplaySeries} />, document.getElementById('root')!);

// Rolling resize under traffic: a whole Scaleplane in this process (balancer, controller, local
// provider with cgroups) runs 3 instances of the test fixture app while clients send quick requests
// and 1.5 s ones (in flight across each drain) through the balancer on 127.0.0.1, and the group is
// resized. Cases: `clean` (nothing else happens) and `crash` (an old instance crashes as the first
// replacement starts). Prints the requests that failed, the fewest instances ready and the fewest
// eligible in the balancer during the roll (in the crash case, from when the group is whole again
// after the crash), and how long the roll took. Needs root and cgroups.
//
//   npx tsx bench/resize-roll/run.ts [--rounds 3] [--instances 3]
import { rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Scaleplane } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
import { detectCgroups } from '../../src/providers/index.js';
import { startLoad } from '../../test/helpers/load.js';

const { values: args } = parseArgs({
  options: { rounds: { type: 'string', default: '3' }, instances: { type: 'string', default: '3' } },
});
const rounds = Number(args.rounds);
const instances = Number(args.instances);
const APP = fileURLToPath(new URL('../../test/fixtures/provider-app.mjs', import.meta.url));
const TOKEN = 'bench-resize-roll';

async function round(kind: 'clean' | 'crash', memory: string): Promise<string> {
  const config = parseConfig(
    `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 500ms } }
groups:
  bench-roll-${process.pid}:
    command: '"${process.execPath}" "${APP}"'
    env: { LISTEN_DELAY_MS: "500" }
    min_instances: ${instances}
    max_instances: ${instances + 1}
`,
    { baseDir: process.cwd() },
  );
  const group = `bench-roll-${process.pid}`;
  const app = await Scaleplane.start({
    config,
    logger: createLogger({ level: 'error', pretty: false }),
    env: { SCALEPLANE_API_KEY: TOKEN },
  });
  try {
    const provider = app.providers.get(group)!;
    const readyCount = () => provider.instances().filter((i) => i.state === 'ready').length;
    await new Promise<void>((resolve) => {
      const check = () => readyCount() === instances && resolve();
      provider.on('change', check);
      check();
    });
    const base = `http://127.0.0.1:${app.balancerAddress!.port}`;
    const quick = startLoad({ url: `${base}/`, concurrency: 4, maxDurationMs: 90_000 });
    const slow = startLoad({ url: `${base}/slow?ms=1500`, concurrency: 3, maxDurationMs: 90_000 });
    await quick.reached(200);
    const old = new Set(provider.instances().map((i) => i.id));
    let minReady = Number.POSITIVE_INFINITY;
    let minEligible = Number.POSITIVE_INFINITY;
    let crashed = kind === 'clean';
    let whole = kind === 'clean';
    const onChange = () => {
      const list = provider.instances();
      if (!crashed && list.some((i) => !old.has(i.id))) {
        crashed = true;
        const victim = list.find((i) => old.has(i.id) && i.state === 'ready');
        if (victim) fetch(`http://${victim.address}/crash`).catch(() => {});
        return;
      }
      if (!crashed) return;
      // The crash's own dip is not the roll's doing: count from when the group is whole again.
      if (!whole && readyCount() < instances) return;
      whole = true;
      minReady = Math.min(minReady, readyCount());
      const backends = app.balancer.stats(group).backends;
      minEligible = Math.min(
        minEligible,
        backends.filter((b) => b.healthy && !b.draining && !b.ejected).length,
      );
    };
    provider.on('change', onChange);
    const started = performance.now();
    const res = await fetch(`http://127.0.0.1:${app.apiAddress!.port}/api/scalability/resize-group`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ group, cpu: 0.5, memory }),
    });
    if (res.status !== 202) throw new Error(`resize: ${res.status} ${await res.text()}`);
    const ended = await new Promise<string>((resolve) => {
      app.controller.journal.on('entry', (e) => {
        if (e.group === group && (e.reasons.includes('ResizeFinished') || e.reasons.includes('ResizeFailed')))
          resolve(e.reasons.join(','));
      });
    });
    const seconds = (performance.now() - started) / 1000;
    provider.off('change', onChange);
    const [q, s] = [await quick.stop(), await slow.stop()];
    const failed = (r: typeof q) => r.errors + r.non2xx;
    return `${kind.padEnd(5)} ${ended.padEnd(14)} ${seconds.toFixed(1).padStart(5)} s  quick ${q.ok} ok ${failed(q)} failed  slow ${s.ok} ok ${failed(s)} failed  ready ≥ ${minReady}  eligible ≥ ${minEligible} (of ${instances}; crash: once whole again)`;
  } finally {
    await app.close();
  }
}

try {
  for (let r = 1; r <= rounds; r++) {
    // Alternate the sizes so every round resizes for real.
    for (const kind of ['clean', 'crash'] as const)
      console.log(`round ${r} ${await round(kind, r % 2 ? '128Mi' : '192Mi')}`);
  }
} finally {
  // The group's own cgroups (empty once app.close() has stopped its instances) stayed behind,
  // one scaleplane/bench-roll-PID per run; they are this bench's, named by its pid.
  const layout = detectCgroups();
  const roots =
    layout?.version === 'v1'
      ? [layout.cpuRoot, layout.memoryRoot, ...(layout.pidsRoot ? [layout.pidsRoot] : [])]
      : layout
        ? [layout.root]
        : [];
  for (const root of roots) {
    try {
      rmdirSync(join(root, 'scaleplane', `bench-roll-${process.pid}`));
    } catch {
      // Not made here, or not empty: left as it was.
    }
  }
}

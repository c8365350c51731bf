// examples/prometheus and examples/grafana name only series Scaleplane exports, and Prometheus'
// own promtool accepts the scrape config and rules (where it is installed).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { createMetrics } from '../../src/metrics/index.js';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');
// Registered by the balancer on the shared registry when it starts.
const BALANCER_SERIES = ['scaleplane_outlier_ejections_total', 'scaleplane_outlier_recoveries_total'];

async function exported(): Promise<Set<string>> {
  const metrics = createMetrics({ defaultMetrics: false });
  const names = (await metrics.registry.getMetricsAsJSON()).map((m) => m.name);
  return new Set([...names, ...BALANCER_SERIES]);
}

/** seriesIn lists the scaleplane_* series a PromQL text uses, without _bucket/_sum/_count suffixes. */
function seriesIn(promql: string): string[] {
  return [...promql.matchAll(/\bscaleplane_[a-z0-9_]+/g)]
    .map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))
    .filter((name) => !name.startsWith('scaleplane:'));
}

describe('monitoring examples', () => {
  it('the Grafana dashboard is valid JSON whose queries use exported series only', async () => {
    const known = await exported();
    const dashboard = JSON.parse(readFileSync(`${EXAMPLES}/grafana/scaleplane.json`, 'utf8'));
    const exprs: string[] = [
      ...dashboard.panels.flatMap((p: { targets?: { expr: string }[] }) =>
        (p.targets ?? []).map((t) => t.expr),
      ),
      ...dashboard.annotations.list.map((a: { expr?: string }) => a.expr ?? ''),
    ];
    assert.ok(exprs.length >= 15, 'exprs.length >= 15');
    const unknown = exprs.flatMap(seriesIn).filter((name) => !known.has(name));
    assert.deepEqual([...new Set(unknown)], []);
    const ids = dashboard.panels.map((p: { id: number }) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  });

  it('the Prometheus config scrapes /metrics and its rules use exported series only', async () => {
    const known = await exported();
    const config = parse(readFileSync(`${EXAMPLES}/prometheus/prometheus.yml`, 'utf8'));
    assert.equal(config.scrape_configs[0].metrics_path, '/metrics');
    // /metrics wants a read token unless api.public_metrics is set.
    assert.deepEqual(config.scrape_configs[0].authorization, {
      type: 'Bearer',
      credentials_file: 'scaleplane-metrics.token',
    });
    const rules = parse(readFileSync(`${EXAMPLES}/prometheus/scaleplane-rules.yml`, 'utf8'));
    const exprs: string[] = rules.groups.flatMap((g: { rules: { expr: string }[] }) =>
      g.rules.map((r) => r.expr),
    );
    assert.deepEqual([...new Set(exprs.flatMap(seriesIn).filter((name) => !known.has(name)))], []);
  });

  it('promtool accepts the config and the rules', {
    skip: existsSync('/usr/bin/promtool') ? false : 'promtool not installed',
  }, (t) => {
    // promtool wants the token file to exist: check a copy beside a token of our own.
    const dir = mkdtempSync(join(tmpdir(), 'scaleplane-promtool-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const file of ['prometheus.yml', 'scaleplane-rules.yml'])
      copyFileSync(`${EXAMPLES}/prometheus/${file}`, join(dir, file));
    writeFileSync(join(dir, 'scaleplane-metrics.token'), 'read-token-0123456789\n');
    const out = execFileSync('/usr/bin/promtool', ['check', 'config', join(dir, 'prometheus.yml')], {
      encoding: 'utf8',
    });
    assert.match(out, /SUCCESS/);
  });
});

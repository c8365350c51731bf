// renderReplayHtml: one standalone file (scripts, styles and data inline, no URL fetched) that
// Chromium opens from disk and draws with the dashboard's charts.
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { type ReplaySeries, renderReplayHtml, writeReplayHtml } from '../../src/dashboard/index.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';

function series(): ReplaySeries {
  const start = Date.UTC(2026, 0, 1, 12);
  const samples = Array.from({ length: 120 }, (_, i) => {
    const load = 50 + 40 * Math.sin(i / 15);
    const ready = i < 40 ? 2 : i < 80 ? 4 : 3;
    return {
      t: start + i * 60_000,
      rps: load * 10,
      errorRate: i === 39 ? 1.5 : 0,
      p50: 20 + load / 10,
      p99: 80 + load,
      cpu: load,
      desired: ready,
      ready,
      inFlight: 3,
    };
  });
  return {
    title: 'Replay of </script><b>trace.csv</b>',
    subtitle: 'policy: target cpu 60',
    summary: { cost: '$12.40', 'SLO met': '99.2 %' },
    groups: [
      {
        name: 'web',
        samples,
        minInstances: 1,
        maxInstances: 5,
        decisions: [
          {
            t: start + 40 * 60_000,
            group: 'web',
            source: 'policy',
            before: 2,
            after: 4,
            reasons: ['AboveTarget'],
            message: '2 → 4: cpu 90 vs target 60',
          },
          {
            t: start + 80 * 60_000,
            group: 'web',
            source: 'policy',
            before: 4,
            after: 3,
            reasons: ['BelowTarget'],
            message: '4 → 3',
          },
        ],
      },
    ],
  };
}

describe('renderReplayHtml', () => {
  let browser: Browser | undefined;
  after(() => browser?.close());

  it('inlines everything and escapes what could end a script', async () => {
    const html = await renderReplayHtml(series());
    assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//);
    assert.equal(html.match(/<\/script>/g)?.length, 2, 'only the two script elements end');
    assert.match(html, /<title>Replay of &lt;\/script&gt;/);
  });

  it('opens from disk in Chromium and draws the charts with the decisions', {
    skip: chromiumMissing,
  }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'scaleplane-replay-'));
    const file = join(dir, 'replay.html');
    await writeReplayHtml(file, series());
    assert.ok(
      (await readFile(file, 'utf8')).length > 50_000,
      "(await readFile(file, 'utf8')).length > 50_000",
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_FLAGS,
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('[data-group=web] [data-chart=instances] canvas');
    assert.equal(await page.locator('[data-group=web] canvas').count(), 4);
    assert.equal(await page.locator('[data-group=web] .decisions li').count(), 2);
    assert.match((await page.textContent('.summary')) ?? '', /\$12\.40/);
    await page.screenshot({ path: join(dir, 'replay.png') });
    console.log(`replay screenshot: ${join(dir, 'replay.png')}`);
    assert.deepEqual(errors, []);
    assert.deepEqual(
      requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:')),
      [],
    );
  });
});

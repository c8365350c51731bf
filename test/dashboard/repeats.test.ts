// The dashboard shows a repeated decision once, `×N`, as the journal keeps it (see
// DecisionJournal): live, each repeat replaces the row of its earlier count instead of adding one,
// and a page opened afterwards gets the same from the stream's history. Debian's Chromium, headless.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import type { Scaleplane } from '../../src/app.js';
import { addDecision, type DecisionMark, toDecisionMark } from '../../src/dashboard/index.js';
import { INTEGRATION_TOKEN, startInProcess } from '../helpers/scaleplane.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';

const CONFIG = `
api: { listen: 127.0.0.1:0 }
balancer: { listen: 127.0.0.1:0, health: { path: /healthz, interval: 500ms } }
groups:
  web:
    command: node server.js
    min_instances: 1
    max_instances: 4
`;

describe('addDecision', () => {
  const mark = (seq: number, extra: Partial<DecisionMark> = {}): DecisionMark => ({
    t: seq * 1000,
    seq,
    group: 'web',
    source: 'policy',
    before: 1,
    after: 2,
    reasons: ['AboveTarget'],
    message: 'm',
    ...extra,
  });

  it('a repeat replaces the mark of its earlier count; others are added; the newest max kept', () => {
    let marks = addDecision([], mark(1), 3);
    marks = addDecision(marks, mark(2, { reasons: ['ScaleFailed'] }), 3);
    marks = addDecision(marks, mark(3, { count: 2, firstSeq: 1, firstT: 1000 }), 3);
    marks = addDecision(marks, mark(4, { reasons: ['ScaleFailed'], count: 2, firstSeq: 2, firstT: 2000 }), 3);
    marks = addDecision(marks, mark(5, { count: 3, firstSeq: 1, firstT: 1000 }), 3);
    assert.deepEqual(
      marks.map((m) => [m.seq, m.count ?? 1]),
      [
        [4, 2],
        [5, 3],
      ],
    );
    marks = addDecision(marks, mark(6, { after: 3 }), 2);
    assert.deepEqual(
      marks.map((m) => m.seq),
      [5, 6],
    );
  });

  it('toDecisionMark carries count, first time and first seq, and leaves them out of a single decision', () => {
    const entry = {
      seq: 9,
      time: '1970-01-01T00:00:09.000Z',
      group: 'web',
      source: 'policy',
      before: 1,
      after: 2,
      reasons: ['AboveTarget'],
      message: 'm',
    };
    assert.deepEqual(
      toDecisionMark({ ...entry, count: 4, firstTime: '1970-01-01T00:00:02.000Z', firstSeq: 3 }),
      { ...toDecisionMark(entry), count: 4, firstT: 2000, firstSeq: 3 },
    );
    assert.equal('count' in toDecisionMark(entry), false, 'no count on a single decision');
  });
});

describe('dashboard in a real browser: repeated decisions', { skip: chromiumMissing }, () => {
  let app: Scaleplane | undefined;
  let browser: Browser | undefined;
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  it('shows one row ×N per repeated decision, live and after a reload', async () => {
    app = await startInProcess(CONFIG);
    const journal = app.controller.journal;
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(`http://127.0.0.1:${app.apiAddress!.port}/`);
    await page.fill('#token', INTEGRATION_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });
    const rows = page.locator('[data-group=web] .decisions li');
    await page.waitForSelector('[data-group=web] .decisions .chip:text("InitialInstances")');
    const start = await rows.count();

    // A provider failing three times in a row: each retry journals the decision and its failure.
    for (let i = 0; i < 3; i++) {
      journal.append(
        {
          group: 'web',
          source: 'policy',
          before: 1,
          after: 2,
          reasons: ['AboveTarget'],
          message: `1 → 2: cpu ${90 + i} vs target 50`,
          inputs: {},
        },
        Date.now(),
      );
      journal.append(
        {
          group: 'web',
          source: 'policy',
          before: 2,
          after: 1,
          reasons: ['ScaleFailed'],
          message:
            "scale to 2 failed: apiserver: 500 Internal Server Error; the provider's desired count is 1",
          inputs: {},
        },
        Date.now(),
      );
    }
    const repeats = page.locator('[data-group=web] .decisions .repeats');
    // Both rows at ×3 (a row still at ×2 would not match), by locator: the page's CSP forbids eval.
    await repeats.filter({ hasText: /^×3$/ }).nth(1).waitFor({ timeout: 15_000 });
    assert.equal(await rows.count(), start + 2, 'two rows, not six');
    assert.deepEqual(await repeats.allTextContents(), ['×3', '×3']);
    await page.click('[data-group=web] .decisions li:first-child button');
    assert.match(
      (await page.textContent('[data-testid=decision-repeats]')) ?? '',
      /^×3, first at .+, last at .+$/,
    );

    // A page opened now gets the same from the stream's history.
    await page.reload();
    await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });
    await page.waitForSelector('[data-group=web] .decisions .repeats');
    assert.equal(await rows.count(), start + 2, 'two rows after a reload');
    assert.deepEqual(await repeats.allTextContents(), ['×3', '×3']);
    assert.deepEqual(errors, []);
  });
});

// The charts' time axes in Debian's Chromium (headless, playwright-core): uPlot draws the labels on
// a canvas, so the test records every label as it is drawn (fillText, with its measured width) and
// looks for two on one axis that overlap, while the window is resized through many widths.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium } from 'playwright-core';
import { type ApiHarness, startApi, TOKEN } from '../helpers/api-harness.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';

/**
 * RECORD runs before the page's scripts: each canvas keeps the time labels (`HH:MM`, `HH:MM:SS`)
 * drawn since it was last cleared (uPlot clears it at each redraw), and a label that overlaps one
 * already drawn on the same line, or repeats its text, is kept in `__overlaps`. A string: this file is type-checked
 * without the DOM library.
 */
const RECORD = `{
  const labels = new WeakMap();
  window.__overlaps = [];
  window.__drawn = 0;
  const proto = CanvasRenderingContext2D.prototype;
  const clear = proto.clearRect;
  proto.clearRect = function (...args) {
    labels.set(this.canvas, []);
    return clear.apply(this, args);
  };
  const fill = proto.fillText;
  proto.fillText = function (text, x, y, ...rest) {
    const s = String(text);
    if (/^\\d\\d:\\d\\d(:\\d\\d)?$/.test(s)) {
      const w = this.measureText(s).width;
      const align = this.textAlign;
      const left = align === 'center' ? x - w / 2 : align === 'right' || align === 'end' ? x - w : x;
      const mine = labels.get(this.canvas) ?? [];
      for (const other of mine) {
        if (other.y !== y) continue;
        if (left < other.right && other.left < left + w)
          window.__overlaps.push(other.text + ' [' + Math.round(other.left) + '..' + Math.round(other.right) + '] over ' + s + ' [' + Math.round(left) + '..' + Math.round(left + w) + ']');
        else if (other.text === s) window.__overlaps.push(s + ' twice on one axis');
      }
      mine.push({ text: s, left, right: left + w, y });
      labels.set(this.canvas, mine);
      window.__drawn++;
    }
    return fill.call(this, text, x, y, ...rest);
  };
}`;

describe("the charts' time axes", { skip: chromiumMissing }, () => {
  let api: ApiHarness;
  let browser: Browser;
  before(async () => {
    api = await startApi();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  });
  after(async () => {
    await browser?.close();
    await api?.close();
  });

  it('never draws two time labels over each other, or one time twice, at any window width', async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      await page.addInitScript(RECORD);
      await page.goto(`${api.base}/`);
      await page.fill('#token', TOKEN);
      await page.click('button[type=submit]');
      await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });
      // A few seconds of samples, so the axis has a span to label (ticks a second or more apart).
      // A function, not a string: polling a string is an eval, which the page's CSP refuses.
      await page.waitForFunction(() => (globalThis as { __drawn?: number }).__drawn! > 40, undefined, {
        timeout: 30_000,
      });
      // uPlot keeps ticks at least `space` px apart (50 by default) and picks the finest step that
      // does: a step that landed between that and a label's width put `04:19:09` over `04:19:10`,
      // and half-second steps over a short span read `04:20:30 04:20:30 04:20:31`. Every width
      // from 600 to 1400 px sweeps each chart through such steps, whatever the span is by then.
      for (let width = 600; width <= 1400; width += 4) {
        await page.setViewportSize({ width, height: 900 });
        // Resized charts are redrawn on the next frames.
        await page.evaluate(
          'new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(() => done(undefined))))',
        );
      }
      const drawn = (await page.evaluate('window.__drawn')) as number;
      const overlaps = (await page.evaluate('window.__overlaps')) as string[];
      assert.ok(drawn > 1000, `only ${drawn} time labels drawn: the sweep did not redraw the charts`);
      assert.deepEqual(
        overlaps.slice(0, 5),
        [],
        `${overlaps.length} time labels drawn over another or twice (of ${drawn} drawn); the first 5 above`,
      );
    } finally {
      await page.close();
    }
  });
});

// The dashboard's sign-in form in Debian's Chromium (headless, playwright-core) against a live API:
// each way a token can fail is told apart, so a pasted token with an invisible character is not
// reported as an API that cannot be reached.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type Browser, chromium, type Page } from 'playwright-core';
import { type ApiHarness, READ_TOKEN, startApi, TOKEN } from '../helpers/api-harness.js';
import { CHROMIUM, CHROMIUM_FLAGS, chromiumMissing } from './chromium.js';

describe('dashboard sign-in', { skip: chromiumMissing }, () => {
  let api: ApiHarness;
  let browser: Browser;
  let page: Page;
  before(async () => {
    api = await startApi();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
    page = await browser.newPage();
  });
  after(async () => {
    await browser?.close();
    await api?.close();
  });

  /** signIn submits `token` on a fresh page (no earlier error in it) and returns the form's error. */
  const signIn = async (token: string) => {
    await page.goto(`${api.base}/`);
    await page.fill('#token', token);
    await page.click('button[type=submit]');
    return (await page.waitForSelector('p.error')).textContent();
  };

  it('names a character no header can carry (a zero-width space pasted with the token)', async () => {
    assert.equal(
      await signIn(`${TOKEN}\u200b`),
      `The token has a character a request header cannot carry (U+200B, character ${TOKEN.length + 1}), often an invisible one picked up when copying. Paste it again.`,
    );
    assert.equal(await signIn('wrong-token-0123456789'), 'That token was refused.');
    // The token itself, pasted again, signs in.
    await page.goto(`${api.base}/`);
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });
  });

  it('after too many wrong tokens, says the API refuses sign-ins for now and for how long', async () => {
    const strict = await startApi({ server: { authFailuresPerMinute: 2 } });
    const own = await browser.newPage();
    try {
      const submit = async (token: string) => {
        await own.goto(`${strict.base}/`);
        await own.fill('#token', token);
        await own.click('button[type=submit]');
        return (await own.waitForSelector('p.error')).textContent();
      };
      assert.equal(await submit('wrong-token-0123456789'), 'That token was refused.');
      assert.equal(await submit('wrong-token-9876543210'), 'That token was refused.');
      // Now every token from this address is refused for a while, the right one included.
      const said = (await submit(TOKEN)) ?? '';
      assert.match(
        said,
        /^The API answered 429: too many failed authentications; retry later \(in \d+ s\)\.$/,
        `the right token after 2 wrong ones (limit 2 a minute) says: ${said}`,
      );
    } finally {
      await own.close();
      await strict.close();
    }
  });

  it('a reload that drops the token signs the dashboard out, saying why', async () => {
    // A page of its own: the one above keeps its token in sessionStorage and opens signed in.
    const page = await browser.newPage();
    await page.goto(`${api.base}/`);
    await page.fill('#token', READ_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-connection=live]', { timeout: 15_000 });
    // The token file no longer lists "dashboards": the open stream ends, the reconnect gets 401.
    api.server.setAuth({ token: TOKEN, tokens: [] });
    const error = await page.waitForSelector('p.error', { timeout: 20_000 });
    assert.equal(await error.textContent(), 'The API no longer accepts this token.');
    assert.equal(await page.evaluate("sessionStorage.getItem('scaleplane.token')"), null);
  });
});

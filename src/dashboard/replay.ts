import { writeFile } from 'node:fs/promises';
import { loadDashboardFiles } from './assets.js';
import type { ReplaySeries } from './types.js';

const escapeHtml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );

// Inside <script>, only `</script` and `<!--` can end or confuse the element; escaping every `<` covers both.
const inlineScript = (text: string) => text.replace(/<\/(script)/gi, '<\\/$1');
const inlineJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

/**
 * renderReplayHtml returns a standalone HTML page drawing `series` with the dashboard's own charts
 * (request rate, latency, errors, CPU, desired/ready, decisions on the timeline). Scripts, styles
 * and data are inlined: the file opens offline, from disk, with nothing else.
 */
export async function renderReplayHtml(series: ReplaySeries): Promise<string> {
  const files = await loadDashboardFiles();
  const title = series.title ?? 'Scaleplane replay';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${(files['replay.css'] ?? '').replace(/<\/style/gi, '<\\/style')}</style>
</head>
<body>
<div id="root"></div>
<script type="application/json" id="replay-data">${inlineJson(series)}</script>
<script>${inlineScript(files['replay.js'] ?? '')}</script>
</body>
</html>
`;
}

/** writeReplayHtml renders `series` and writes it to `file` (what `scaleplane simulate --html FILE` does). */
export async function writeReplayHtml(file: string, series: ReplaySeries): Promise<void> {
  await writeFile(file, await renderReplayHtml(series));
}

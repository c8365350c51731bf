import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleDashboard, type DashboardFiles } from './bundle.js';

/** PUBLIC_DIR is where `npm run build` leaves the bundles, next to the compiled server code. */
export const PUBLIC_DIR = join(import.meta.dirname, 'public');

let loading: Promise<DashboardFiles> | undefined;

/**
 * loadDashboardFiles returns the browser bundles: the built ones in dist/dashboard/public, or, when
 * running from source (tsx, tests), bundled once in memory with esbuild. Cached for the process.
 */
export function loadDashboardFiles(): Promise<DashboardFiles> {
  loading ??= (async () => {
    if (existsSync(join(PUBLIC_DIR, 'app.js'))) {
      const names = await readdir(PUBLIC_DIR);
      const texts = await Promise.all(names.map((n) => readFile(join(PUBLIC_DIR, n), 'utf8')));
      return Object.fromEntries(names.map((n, i) => [n, texts[i]!]));
    }
    return bundleDashboard();
  })();
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}

/** dashboardHtml is the page at `/`: a shell that loads the bundle (login form, charts, tables). */
export function dashboardHtml(): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Scaleplane</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/app.css">
</head>
<body>
<div id="root"></div>
<script src="/dashboard/app.js"></script>
</body>
</html>
`;
}

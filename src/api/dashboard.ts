import type { IncomingMessage, ServerResponse } from 'node:http';
import { dashboardHtml, loadDashboardFiles } from '../dashboard/index.js';

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
};

// The page and its scripts hold no data: every figure comes from the token-protected API, so they
// are served without a token (the login form is part of them). The CSP allows only same-origin
// scripts, styles (no inline ones: Preact and uPlot set styles through the CSSOM, which CSP does not
// govern) and API calls; no <base>, no form submission anywhere (the login form is handled in
// script, so a token can never end up in a URL), and no framing (clickjacking of the scale buttons).
const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
};

/** isDashboardPath says whether the API server should hand a path to serveDashboard. */
export function isDashboardPath(path: string): boolean {
  return path === '/' || path === '/index.html' || /^\/dashboard\/[\w.-]+\.(js|css)$/.test(path);
}

/**
 * serveDashboard answers `/` with the dashboard page and `/dashboard/<file>` with its bundles.
 * Returns false when the file does not exist (the caller answers 404).
 */
export async function serveDashboard(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<boolean> {
  let body: string | undefined;
  let type = TYPES['.html']!;
  if (path === '/' || path === '/index.html') body = dashboardHtml();
  else {
    const name = path.slice('/dashboard/'.length);
    body = (await loadDashboardFiles())[name];
    type = TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';
  }
  if (body === undefined) return false;
  res.writeHead(200, {
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    'cache-control': path.startsWith('/dashboard/') ? 'no-cache' : 'no-store',
    ...SECURITY_HEADERS,
  });
  res.end(req.method === 'HEAD' ? undefined : body);
  return true;
}

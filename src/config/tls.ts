/**
 * Checks of the `tls` files of a resolved config: readable PEM, a certificate and a key that belong
 * together, so a wrong path is a ConfigError at load time rather than a crash at listen time.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Config, TlsConfig } from './types.js';

/** TlsIssue is one problem with a `tls` file, at its YAML path such as `['api', 'tls', 'cert']`. */
export interface TlsIssue {
  path: string[];
  message: string;
}

/** TlsMaterial is a listener's certificate and key, read. */
export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
}

/** readTls reads a listener's certificate and key files (what node:https wants). */
export function readTls(tls: TlsConfig): TlsMaterial {
  return { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
}

/** sameTls says whether two reads of a listener's files hold the same certificate and key. */
export function sameTls(a: TlsMaterial, b: TlsMaterial): boolean {
  return a.cert.equals(b.cert) && a.key.equals(b.key);
}

/** tlsIssues checks every `tls` section of a config; no issue means both listeners can use theirs. */
export function tlsIssues(config: Pick<Config, 'api' | 'balancer'>): TlsIssue[] {
  return [
    ...(config.api.tls ? sectionIssues('api', config.api.tls) : []),
    ...(config.balancer.tls ? sectionIssues('balancer', config.balancer.tls) : []),
  ];
}

function sectionIssues(section: string, tls: TlsConfig): TlsIssue[] {
  const at = (key: 'cert' | 'key', message: string): TlsIssue => ({ path: [section, 'tls', key], message });
  const cert = readPem(tls.cert);
  const key = readPem(tls.key);
  const issues: TlsIssue[] = [];
  if (typeof cert === 'string') issues.push(at('cert', cert));
  else if (!parses(() => new X509Certificate(cert)))
    issues.push(at('cert', `${tls.cert} holds no PEM certificate`));
  if (typeof key === 'string') issues.push(at('key', key));
  else if (!parses(() => createPrivateKey(key)))
    issues.push(at('key', `${tls.key} holds no PEM private key`));
  if (issues.length === 0 && !parses(() => createSecureContext({ cert: cert as Buffer, key: key as Buffer })))
    issues.push(at('key', `${tls.key} is not the key of the certificate ${tls.cert}`));
  return issues;
}

/** readPem returns the file, or why it cannot be read. */
function readPem(path: string): Buffer | string {
  try {
    return readFileSync(path);
  } catch (error) {
    return `cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
}

function parses(parse: () => unknown): boolean {
  try {
    parse();
    return true;
  } catch {
    return false;
  }
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** API_KEY_ENV lists the environment variables that carry the bearer token, in order of preference. */
export const API_KEY_ENV = ['SCALEPLANE_API_KEY', 'SERVICE_API_KEY'] as const;

/** tokenFromEnv returns the configured API token, if any. */
export function tokenFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const name of API_KEY_ENV) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  return undefined;
}

/** generateToken makes a random token for a loopback-only API started without one. */
export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * createTokenCheck returns a function that says whether an Authorization header carries the
 * token. Both sides are hashed first so the comparison takes the same time whatever the length
 * or content of the guess.
 */
export function createTokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (authorization) => {
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization ?? '');
    const presented = createHash('sha256')
      .update(match?.[1] ?? '')
      .digest();
    return timingSafeEqual(expected, presented) && match !== null;
  };
}

/** isLoopback says whether a listen host is reachable only from this machine. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

export {
  API_KEY_ENV,
  API_KEY_FILE_ENV,
  type ApiToken,
  AuthConfigError,
  createAuthenticator,
  createTokenCheck,
  type EnvToken,
  envToken,
  exposedTokenFileWarning,
  FORWARDED_FOR_HEADER,
  generateToken,
  isLoopback,
  isLoopbackHostHeader,
  loadTokenFile,
  MIN_TOKEN_LENGTH,
  PROXY_AUTHORIZATION_HEADER,
  type Principal,
  parseTokenFile,
  type Role,
  tokenFileWarnings,
  tokenFromEnv,
} from './auth.js';
export { RateLimiter, type RateLimiterOptions } from './rate-limit.js';
export { describeZodError, ResizeGroupRequest, ScaleGroupRequest } from './schemas.js';
export {
  type ApiAuthOptions,
  ApiServer,
  type ApiServerOptions,
  DEFAULT_MAX_STREAMS,
  DEFAULT_MAX_STREAMS_PER_TOKEN,
  DEFAULT_STORE_TIMEOUT_MS,
  MAX_BODY_BYTES,
} from './server.js';
export {
  inspectTokenFile,
  readTokenFile,
  removeTokenFile,
  type TokenFileReading,
  tokenFilePath,
  writeTokenFile,
} from './token-file.js';

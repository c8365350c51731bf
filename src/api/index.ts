export { API_KEY_ENV, createTokenCheck, generateToken, isLoopback, tokenFromEnv } from './auth.js';
export { describeZodError, ResizeGroupRequest, ScaleGroupRequest } from './schemas.js';
export { ApiServer, type ApiServerOptions, MAX_BODY_BYTES } from './server.js';
export { readTokenFile, removeTokenFile, tokenFilePath, writeTokenFile } from './token-file.js';

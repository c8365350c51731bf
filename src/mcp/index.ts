export { type ControlApi, createControlApi, proxyHeaders } from './api.js';
export { registerMcp } from './cli.js';
export { McpError, type McpErrorCode } from './errors.js';
export {
  checkProxyToken,
  createMcpServer,
  foreignPage,
  MAX_MCP_BODY_BYTES,
  MAX_MCP_IN_FLIGHT,
  MCP_PATH,
  MCP_RETRY_AFTER_SECONDS,
  McpHttpServer,
  type McpHttpServerOptions,
  serveStdio,
} from './server.js';
export { MAX_SIMULATIONS, SIMULATE_TIMEOUT_MS } from './simulate.js';
export {
  MAX_REMEMBERED_TOKENS,
  TOKEN_ACCEPTED_TTL_MS,
  TOKEN_CHECK_PATH,
  TokenGate,
  type TokenGateOptions,
  type TokenVerdict,
  verdictOf,
} from './token-gate.js';
export { MAX_TRACE_RATE, MAX_TRACE_SECONDS, registerTools, TOOL_NAMES } from './tools.js';

export { type ControlApi, createControlApi } from './api.js';
export { registerMcp } from './cli.js';
export { McpError, type McpErrorCode } from './errors.js';
export {
  createMcpServer,
  MAX_MCP_BODY_BYTES,
  MCP_PATH,
  McpHttpServer,
  type McpHttpServerOptions,
  serveStdio,
} from './server.js';
export { MAX_SIMULATIONS } from './simulate.js';
export { MAX_TRACE_RATE, MAX_TRACE_SECONDS, registerTools, TOOL_NAMES } from './tools.js';

/** McpErrorCode lists the stable codes of the MCP module's errors. */
export type McpErrorCode = 'MCP_API_UNREACHABLE' | 'MCP_API_ERROR' | 'MCP_NO_TOKEN';

/** McpError is the base of errors the MCP server raises, each with a stable `code`. */
export class McpError extends Error {
  readonly code: McpErrorCode;
  /** HTTP status of the control API's answer, when there was one. */
  readonly status: number | undefined;
  constructor(code: McpErrorCode, message: string, options?: { cause?: unknown; status?: number }) {
    super(message, options);
    this.name = 'McpError';
    this.code = code;
    this.status = options?.status;
  }
}

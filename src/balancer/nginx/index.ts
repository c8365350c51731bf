export {
  type CommandRunner,
  NginxDriver,
  NginxDriverError,
  type NginxDriverErrorCode,
  type NginxDriverEvents,
  type NginxDriverOptions,
  type NginxSync,
  runShell,
} from './driver.js';
export { renderUpstreams, type UpstreamGroup, upstreamName } from './render.js';

/** Websocket media streams: EvoStream progressive fMP4, plain fMP4 and FLV pushed over a websocket. */
export { WS_DEFAULTS, WsConnection, type WsConnectOptions, type WsMessage } from './ws-connection.js';
export { MediaMeter } from './ws-meter.js';
export { describeMessage, sniffWsFraming, unknownFramingError, type WsFraming } from './ws-sniff.js';
export {
  WS_SOURCE_DEFAULTS,
  webSocketSource,
  type WebSocketSourceOptions,
  type WsSourceEvent,
} from './ws-source.js';
export { createSplitter, type MediaUnit, type SplitOutput, type UnitSplitter } from './ws-units.js';

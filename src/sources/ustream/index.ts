/** ustream / IBM Video Streaming: page, registration, content listing, the UMS session, chunk planning. */
export * from './ustream-url.js';
export * from './ustream-site.js';
export * from './ums-protocol.js';
export * from './ums-client.js';
export * from './ustream-chunks.js';
export * from './ustream-source.js';

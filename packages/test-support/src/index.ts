/**
 * @indiepm/test-support (private): what the tests and the demo share and no shipped
 * package may export — loopback servers, temporary data folders, and a no-password
 * IndieAuth authorization server.
 */
export { closedPort, closeServer, listenLoopback, startLoopbackServer, tempDir } from "./loopback.js";
export type { LoopbackServer, TempDir } from "./loopback.js";
export { startDevAuthorizationServer } from "./dev-authorization-server.js";
export type { DevAuthorizationServer, DevAuthorizationServerOptions } from "./dev-authorization-server.js";

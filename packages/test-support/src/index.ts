/**
 * @indiepm/test-support (private): what the tests and the demo share and no shipped
 * package may export — loopback servers, temporary data folders, PostgreSQL servers and
 * databases (postgres.ts), and a no-password IndieAuth authorization server.
 */
export { closedPort, closeServer, listenLoopback, startLoopbackServer, tempDir } from "./loopback.js";
export type { LoopbackServer, TempDir } from "./loopback.js";
export { freshDatabase, postgresForTests, postgresServerSkipReason, startPostgresServer } from "./postgres.js";
export type { FreshDatabase, PostgresForTests, PostgresServer } from "./postgres.js";
export { startDevAuthorizationServer } from "./dev-authorization-server.js";
export type { DevAuthorizationServer, DevAuthorizationServerOptions } from "./dev-authorization-server.js";
export { startMicrosubReceiver } from "./microsub-receiver.js";
export type { MicrosubReceiver, MicrosubReceiverOptions, ReceivedEntry } from "./microsub-receiver.js";

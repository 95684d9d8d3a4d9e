/**
 * The private servers alone, without the rest of the test kit: what a script (the benchmark's relay
 * comparison) starts beside the system. Nothing here imports a test framework or an app, so a
 * compiled script that uses it loads only these files.
 */
export { PrivateConnect, type ConnectorStatus, type PrivateConnectOptions } from './private-connect.js';
export { PrivatePostgres } from './private-postgres.js';

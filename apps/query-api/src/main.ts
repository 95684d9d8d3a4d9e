import { startConfiguredTracing } from '@app/platform/tracing';

// Tracing starts before the app is imported, so that its instrumentations patch http and pg as
// they are first loaded; without OTEL_EXPORTER_OTLP_ENDPOINT it does nothing.
startConfiguredTracing('query-api');
await import('./serve.js');

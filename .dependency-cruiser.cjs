// Layer rules, run by `npm run lint:layers` in CI. Each rule says why it exists.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'Cycles break ESM initialisation order (decorator metadata meets an unfinished module) and blur layers.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment:
        'The domain imports no framework and no other layer: it is plain functions over plain data. One library ' +
        'only: TypeBox, which declares the events once as plain JSON Schema objects and gives their types (ADR 10).',
      from: { path: '^libs/orders-domain/', pathNot: '\\.spec\\.ts$' },
      to: { pathNot: '^libs/orders-domain/|node_modules/@sinclair/typebox/' },
    },
    {
      name: 'platform-is-the-base',
      severity: 'error',
      comment: 'Config, database bootstrap and health serve every layer, so they depend on none.',
      from: { path: '^libs/platform/' },
      to: { path: '^(libs|apps)/', pathNot: '^libs/platform/' },
    },
    {
      name: 'read-models-stand-alone',
      severity: 'error',
      comment:
        'Read models are tables and queries; they know nothing of Kafka, the event store or projections. ' +
        "They may speak the domain's vocabulary (statuses, event types): orders-domain is pure.",
      from: { path: '^libs/read-models/' },
      to: { path: '^(libs|apps)/', pathNot: '^libs/(read-models|platform|orders-domain)/' },
    },
    {
      name: 'query-side-never-reads-the-event-store',
      severity: 'error',
      comment:
        'CQRS: the query API serves read models only, never the streams. The domain vocabulary (statuses, ' +
        'event types) it may share: orders-domain is pure, so importing it reads nothing.',
      from: { path: '^apps/query-api/' },
      to: { path: '^libs/event-store/' },
    },
    {
      name: 'libs-do-not-import-apps',
      severity: 'error',
      from: { path: '^libs/', pathNot: '^libs/testing/' },
      to: { path: '^apps/' },
    },
    {
      name: 'apps-are-independent',
      severity: 'error',
      comment: 'Each app is its own process; shared code belongs in libs/.',
      from: { path: '^apps/([^/]+)/' },
      to: { path: '^apps/', pathNot: '^apps/$1/' },
    },
    {
      name: 'kafkajs-stays-behind-messaging',
      severity: 'error',
      comment:
        'kafkajs is unmaintained: keeping it inside libs/messaging makes a later client swap one folder of work.',
      from: { pathNot: '^libs/(messaging|testing)/|^scripts/' },
      to: { path: 'node_modules/kafkajs/' },
    },
    {
      name: 'the-http-adapter-stays-at-the-http-edge',
      severity: 'error',
      comment:
        'Use cases return outcomes; only the HTTP edge turns requests into commands and outcomes into answers. ' +
        'A handler that takes Fastify (or Express) types ties every use case to one adapter and cannot run from a ' +
        'test, a CLI or a consumer without faking a request. The edge: controllers (*.http.controller.ts), the ' +
        "command API's order-command.http.ts, and the platform's HTTP setup.",
      from: {
        pathNot: [
          '^apps/[^/]+/src/.+\\.http\\.controller\\.ts$',
          '^apps/command-api/src/shared/order-command\\.http\\.ts$',
          '^libs/platform/src/http/',
          '^scripts/bench/hello-app\\.ts$',
        ],
      },
      to: { path: 'node_modules/((@types/)?express|fastify|@fastify/[^/]+|@nestjs/platform-(express|fastify))/' },
    },
    {
      name: 'production-code-does-not-import-tests',
      severity: 'error',
      from: { path: '^(apps|libs|migrations)/', pathNot: '\\.spec\\.ts$|^libs/testing/' },
      to: { path: '^libs/testing/|\\.spec\\.ts$' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|dist-test|\\.cache)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      exportsFields: ['exports'],
      mainFields: ['module', 'main', 'types'],
    },
  },
};

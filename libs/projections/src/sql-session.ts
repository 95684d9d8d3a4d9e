/**
 * What projections and generations need of a connection: a TypeORM transaction's manager, a pipelined
 * session (PipelinedSql: the worker's live projections), a rebuild's own owner session
 * (replay/rebuild-owner.ts), so that its switch commits only while it holds its lock, or a test's pg
 * client. The platform's type, named here for projection authors.
 */
export type { SqlSession } from '@app/platform';

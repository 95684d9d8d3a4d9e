import { createHash, timingSafeEqual } from 'node:crypto';

import {
  Inject,
  Injectable,
  Logger,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
} from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';

import { APP_CONFIG, type AppConfig } from '../config/app-config.js';

/**
 * Admits requests that carry one `Authorization: Bearer <ADMIN_TOKEN>` header, compared in constant time, and
 * logs every admitted admin action (what, from where, when). Without ADMIN_TOKEN every admin request
 * answers 401: admin endpoints are never open by default.
 */
@Injectable()
export class AdminTokenGuard implements CanActivate {
  private readonly logger = new Logger('Admin');
  private readonly expected: Buffer | undefined;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.expected = config.adminToken === undefined ? undefined : digest(config.adminToken);
    if (!this.expected) this.logger.warn('ADMIN_TOKEN is not set: admin endpoints answer 401');
  }

  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    // Exactly one Authorization header: Node keeps the first of several and drops the rest, while a proxy
    // in front may check the last, so a request carrying two is ambiguous and refused.
    const authorization = request.raw.headersDistinct.authorization ?? [];
    const presented =
      authorization.length === 1 ? /^Bearer ([\x21-\x7E]{1,512})$/.exec(authorization[0] ?? '')?.[1] : undefined;
    // Comparing digests keeps the comparison constant-time whatever the presented length.
    if (!this.expected || presented === undefined || !timingSafeEqual(digest(presented), this.expected)) {
      void context.switchToHttp().getResponse<FastifyReply>().header('WWW-Authenticate', 'Bearer realm="admin"');
      throw new UnauthorizedException({
        statusCode: 401,
        error: 'Unauthorized',
        message: 'a valid admin bearer token is required',
      });
    }
    this.logger.log(
      `admin ${request.method} ${request.originalUrl} by token holder from ${request.ip} at ${new Date().toISOString()}`,
    );
    return true;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

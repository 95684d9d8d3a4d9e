import { ApiResponse } from '@nestjs/swagger';

import { ErrorResponse } from '@app/platform';

/** What AdminTokenGuard answers before anything else of an admin endpoint runs. */
export const AdminUnauthorized = (): ClassDecorator & MethodDecorator =>
  ApiResponse({
    status: 401,
    type: ErrorResponse,
    description:
      'No valid admin token: none, a wrong one, more than one Authorization header, or ADMIN_TOKEN not set on the server.',
    headers: { 'WWW-Authenticate': { description: 'Bearer realm="admin"', schema: { type: 'string' } } },
  });

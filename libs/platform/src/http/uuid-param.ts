import { BadRequestException, ParseUUIDPipe } from '@nestjs/common';

/** `@Param('id', uuidParam('id'))`: a malformed id answers 400 naming the field, like every validation error. */
export function uuidParam(field: string): ParseUUIDPipe {
  return new ParseUUIDPipe({
    exceptionFactory: () => {
      const error = `${field} must be a UUID`;
      return new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: 'the request has invalid fields',
        fields: [{ field, errors: [error] }],
      });
    },
  });
}

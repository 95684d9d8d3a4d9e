import { BadRequestException, Injectable, type PipeTransform } from '@nestjs/common';

/**
 * For commands that take no body (deliver, remove a line): a body with fields is refused like any
 * unknown field, naming each, rather than ignored. No body and `{}` pass. A class-validator DTO
 * cannot say this: a class without rules fails every value (forbidUnknownValues).
 */
@Injectable()
export class NoBodyFieldsPipe implements PipeTransform<unknown, undefined> {
  transform(body: unknown): undefined {
    const keys = body !== null && typeof body === 'object' ? Object.keys(body) : [];
    if (keys.length === 0) return undefined;
    throw new BadRequestException({
      statusCode: 400,
      error: 'Bad Request',
      message: 'the request has invalid fields',
      fields: keys.map((field) => ({ field, errors: [`property ${field} should not exist`] })),
    });
  }
}

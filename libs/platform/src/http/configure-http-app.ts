import { BadRequestException, ValidationPipe, type INestApplication, type ValidationError } from '@nestjs/common';

/** One invalid field of a request, named by its path (`lines.0.quantity`). */
export interface FieldError {
  readonly field: string;
  readonly errors: readonly string[];
}

/**
 * HTTP behaviour shared by every API: strict validation (unknown fields rejected, nested objects
 * validated) and a 400 body that names each bad field. Tests call this too, so they run what runs.
 */
export function configureHttpApp(app: INestApplication): INestApplication {
  app.useGlobalPipes(
    new ValidationPipe({
      whitelist: true,
      forbidNonWhitelisted: true,
      transform: true,
      stopAtFirstError: false,
      exceptionFactory: (errors) =>
        new BadRequestException({
          statusCode: 400,
          error: 'Bad Request',
          message: 'the request has invalid fields',
          fields: flattenValidationErrors(errors),
        }),
    }),
  );
  app.enableShutdownHooks();
  return app;
}

export function flattenValidationErrors(errors: readonly ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = error.constraints ? [{ field, errors: Object.values(error.constraints) }] : [];
    return [...own, ...flattenValidationErrors(error.children ?? [], field)];
  });
}

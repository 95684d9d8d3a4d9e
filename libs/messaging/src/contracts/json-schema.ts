import { Ajv2020, type ErrorObject } from 'ajv/dist/2020.js';
import formatsPlugin from 'ajv-formats';

/** ajv-formats is CommonJS: Node's ESM hands over `module.exports`, which carries the plugin as `default` too. */
const addFormats = formatsPlugin.default;

/** One validator for every contract: JSON Schema draft 2020-12, strict (an unknown keyword is a bug), with `format`s checked. */
export function jsonSchemaValidator(): Ajv2020 {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  addFormats(ajv, ['date-time']);
  return ajv;
}

/** Ajv's errors as one line a person can act on: `/lines/0/quantity must be integer`. */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string {
  return (errors ?? [])
    .slice(0, 5)
    .map((error) => {
      const at = error.instancePath === '' ? '/' : error.instancePath;
      const allowed = error.keyword === 'enum' ? ` (${JSON.stringify(error.params.allowedValues)})` : '';
      return `${at} ${error.message ?? error.keyword}${allowed}`;
    })
    .join('; ');
}

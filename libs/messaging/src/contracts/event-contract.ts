import type { ValidateFunction } from 'ajv/dist/2020.js';

import type { EventEnvelope } from '../envelope.js';
import { describeErrors, jsonSchemaValidator } from './json-schema.js';

/** One event type's JSON Schemas, oldest first (`schemas[n - 1]` is version n), and the upcasters between them. */
export interface EventTypeVersions {
  readonly schemas: readonly object[];
  /** `upcasters[n - 1]` turns data of version n into version n + 1: pure, one step each. */
  readonly upcasters: readonly ((data: never) => unknown)[];
}

export type ContractViolationKind = 'unknown-type' | 'newer-than-known' | 'invalid';

/**
 * A record's event does not fit the contract this process was built with: a type it does not know, a
 * schema version newer than it knows (a newer writer; deploy this reader again), or data that does
 * not match its version's schema. Projections park it as poison; commands refuse to decide on it.
 */
export class EventContractViolation extends Error {
  constructor(
    readonly kind: ContractViolationKind,
    message: string,
  ) {
    super(message);
    this.name = 'EventContractViolation';
  }
}

/**
 * The events of one domain as the log keeps them: which types exist, each type's schema at every
 * version, and how an old version becomes the current one. Every reader goes through `read`, so the
 * code behind it sees only current versions, and nothing reads a record it does not understand.
 */
export class EventContract<Type extends string = string> {
  private readonly validators = new Map<string, readonly ValidateFunction[]>();

  constructor(
    /** The domain's name, as the published documents call it. */
    readonly name: string,
    readonly versions: Readonly<Record<Type, EventTypeVersions>>,
  ) {
    const ajv = jsonSchemaValidator();
    for (const [type, { schemas, upcasters }] of Object.entries<EventTypeVersions>(versions)) {
      if (schemas.length === 0 || upcasters.length !== schemas.length - 1)
        throw new Error(`${type}: ${String(schemas.length)} schemas need ${String(schemas.length - 1)} upcasters`);
      this.validators.set(
        type,
        schemas.map((schema) => ajv.compile(schema)),
      );
    }
  }

  get types(): Type[] {
    return Object.keys(this.versions) as Type[];
  }

  knows(type: string): boolean {
    return this.validators.has(type);
  }

  /** The version new events of `type` are written with: its latest. */
  currentVersion(type: Type): number {
    return this.versions[type].schemas.length;
  }

  /** Where `data` breaks the schema of `type` at `version`, or undefined when it matches. */
  problems(type: string, version: number, data: unknown): string | undefined {
    const validate = this.validatorFor(type, version);
    return validate(data) ? undefined : `${type} v${String(version)} ${describeErrors(validate.errors)}`;
  }

  /**
   * The data of an event recorded as `type` at `version`, checked against that version's schema and
   * upcast to the current one. Throws EventContractViolation.
   */
  upcast(type: string, version: number, data: unknown): unknown {
    const problems = this.problems(type, version, data);
    if (problems !== undefined) throw new EventContractViolation('invalid', `does not match its schema: ${problems}`);
    const { upcasters } = this.versions[type as Type];
    if (version > upcasters.length) return data; // the current version already
    let current = data;
    for (let step = version - 1; step < upcasters.length; step++) {
      try {
        current = upcasters[step]?.(current as never);
      } catch (error) {
        throw new EventContractViolation(
          'invalid',
          `upcasting ${type} v${String(step + 1)} to v${String(step + 2)} failed: ${(error as Error).message}`,
        );
      }
    }
    // An upcaster is code, and code has bugs: what it hands on must be the current version.
    const wrong = this.problems(type, upcasters.length + 1, current);
    if (wrong !== undefined)
      throw new EventContractViolation(
        'invalid',
        `upcast from v${String(version)} breaks the current schema: ${wrong}`,
      );
    return current;
  }

  /** An envelope read from the log or the store, as the current version of its event. */
  read(envelope: EventEnvelope): EventEnvelope {
    const data = this.upcast(envelope.type, envelope.schemaVersion, envelope.data);
    const schemaVersion = this.currentVersion(envelope.type as Type);
    return schemaVersion === envelope.schemaVersion ? { ...envelope, data } : { ...envelope, schemaVersion, data };
  }

  private validatorFor(type: string, version: number): ValidateFunction {
    const validators = this.validators.get(type);
    if (validators === undefined)
      throw new EventContractViolation('unknown-type', `${type} is not an event type of ${this.name}`);
    const validate = validators[version - 1];
    if (validate === undefined || version < 1)
      throw new EventContractViolation(
        version > validators.length ? 'newer-than-known' : 'invalid',
        version > validators.length
          ? `${type} v${String(version)} is newer than this reader knows (v${String(validators.length)}): deploy a newer version of it`
          : `${type} has no schema version ${String(version)}`,
      );
    return validate;
  }
}

import { ENVELOPE_SCHEMA, STREAM_ID_FIELD } from '../envelope.js';
import type { TopicSpec } from '../topics.js';
import type { EventContract, EventTypeVersions } from './event-contract.js';

export const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

type JsonObject = Record<string, unknown>;

/** A schema as a plain JSON value: what TypeBox builds, without its symbol keys. */
export function plainJson(schema: object): JsonObject {
  return JSON.parse(JSON.stringify(schema)) as JsonObject;
}

/** The name a version's schema and message go by in the published documents: `OrderPlacedV2`. */
export const versionName = (type: string, version: number): string => `${type}V${String(version)}`;

/** Where each published schema lives under docs/contracts: `events/OrderPlaced/v2.schema.json`. */
export const eventSchemaPath = (type: string, version: number): string =>
  `events/${type}/v${String(version)}.schema.json`;
export const ENVELOPE_SCHEMA_PATH = 'envelope.schema.json';
export const HEADERS_SCHEMA_PATH = 'headers.schema.json';

/**
 * Every schema of the contract as a standalone JSON Schema (draft 2020-12) document, keyed by its path
 * under docs/contracts: the envelope, and each event type's data at each version. These files are the
 * released contract that `npm run contracts:check` holds every later commit to.
 */
export function contractSchemaFiles(contract: EventContract): Map<string, JsonObject> {
  const files = new Map<string, JsonObject>();
  files.set(ENVELOPE_SCHEMA_PATH, {
    $schema: JSON_SCHEMA_DIALECT,
    $id: `urn:${contract.name}:envelope`,
    ...plainJson(ENVELOPE_SCHEMA),
  });
  files.set(HEADERS_SCHEMA_PATH, {
    $schema: JSON_SCHEMA_DIALECT,
    $id: `urn:${contract.name}:headers`,
    title: 'EventHeaders',
    description: 'The Kafka record headers every event carries, beside its envelope.',
    ...EVENT_HEADERS,
  });
  for (const [type, { schemas }] of Object.entries<EventTypeVersions>(contract.versions)) {
    schemas.forEach((schema, index) => {
      const version = index + 1;
      files.set(eventSchemaPath(type, version), {
        $schema: JSON_SCHEMA_DIALECT,
        $id: `urn:${contract.name}:events:${type}:v${String(version)}`,
        title: `${type} v${String(version)}`,
        description: `The data of ${type} events recorded with schemaVersion ${String(version)}.`,
        ...plainJson(schema),
      });
    });
  }
  return files;
}

/** The keys a published schema file adds around the schema itself: not part of what is compared. */
export const DOCUMENT_KEYS: readonly string[] = ['$schema', '$id', 'title', 'description'];

export interface AsyncApiOptions {
  readonly events: TopicSpec;
  readonly deadLetters: TopicSpec;
  readonly brokers: readonly string[];
  readonly version: string;
}

const KAFKA_BINDING_VERSION = '0.5.0';

/** The record headers every event carries (encodeEnvelope; a unit test holds the two together). */
export const EVENT_HEADERS = {
  type: 'object',
  required: ['event-type', 'schema-version', 'event-id', 'correlation-id', 'causation-id'],
  properties: {
    'event-type': { type: 'string', description: 'the envelope type' },
    'schema-version': { type: 'string', pattern: '^[1-9][0-9]*$', description: 'the envelope schemaVersion, as text' },
    'event-id': { type: 'string', description: 'the envelope eventId' },
    'correlation-id': { type: 'string', description: 'the request that started it all' },
    'causation-id': { type: 'string', description: 'what directly caused this event' },
    traceparent: {
      type: 'string',
      description: 'W3C trace context of the command that recorded it, when there was one',
    },
  },
};

/** What a projection adds to a record it could not apply, beside the record's own headers. */
const DEAD_LETTER_HEADERS = {
  type: 'object',
  required: ['dlq-origin-topic', 'dlq-origin-partition', 'dlq-origin-offset', 'dlq-error', 'dlq-projection'],
  properties: {
    'dlq-origin-topic': { type: 'string' },
    'dlq-origin-partition': { type: 'string', pattern: '^[0-9]+$' },
    'dlq-origin-offset': { type: 'string', pattern: '^[0-9]+$' },
    'dlq-error': { type: 'string', description: 'why it was not applied (at most 1,000 characters)' },
    'dlq-projection': { type: 'string', description: 'the projection that parked it' },
    'dlq-value-dropped': {
      type: 'string',
      description: 'set when the value was too large to forward (kept in parked_events)',
    },
    'dlq-headers-dropped': {
      type: 'string',
      description: 'set when the original headers were too large to forward (kept in parked_events)',
    },
  },
  additionalProperties: { type: 'string', description: "the original record's headers, as they were" },
};

/**
 * The AsyncAPI 3 document of the topics: every event type at every schema version as a message of
 * the events channel (key, headers, payload), and the dead-letter channel. Generated from the same
 * contract every reader and writer uses; committed as docs/asyncapi.json and served by the command API.
 */
export function asyncApiDocument(contract: EventContract, options: AsyncApiOptions): JsonObject {
  const messages: JsonObject = {};
  const schemas: JsonObject = { EventEnvelope: plainJson(ENVELOPE_SCHEMA), EventHeaders: EVENT_HEADERS };
  for (const [type, { schemas: versions }] of Object.entries<EventTypeVersions>(contract.versions)) {
    versions.forEach((schema, index) => {
      const version = index + 1;
      const name = versionName(type, version);
      const current = version === versions.length;
      schemas[name] = plainJson(schema);
      messages[name] = {
        name: type,
        title: `${type} v${String(version)}`,
        summary: current
          ? `${type}, as written today (schemaVersion ${String(version)})`
          : `${type} as written before schemaVersion ${String(version + 1)}: still in the log; readers upcast it`,
        contentType: 'application/json',
        headers: { $ref: '#/components/schemas/EventHeaders' },
        payload: {
          allOf: [
            { $ref: '#/components/schemas/EventEnvelope' },
            {
              type: 'object',
              properties: {
                type: { const: type },
                schemaVersion: { const: version },
                data: { $ref: `#/components/schemas/${name}` },
              },
            },
          ],
        },
        bindings: {
          kafka: {
            key: { type: 'string', description: `the envelope ${STREAM_ID_FIELD}` },
            bindingVersion: KAFKA_BINDING_VERSION,
          },
        },
      };
    });
  }
  messages.DeadLetter = {
    name: 'DeadLetter',
    title: 'A record a projection could not apply',
    contentType: 'application/octet-stream',
    headers: DEAD_LETTER_HEADERS,
    payload: { description: options.deadLetters.value },
    bindings: { kafka: { key: { description: options.deadLetters.key }, bindingVersion: KAFKA_BINDING_VERSION } },
  };
  const eventMessages = Object.keys(messages).filter((name) => name !== 'DeadLetter');
  const channelOf = (topic: TopicSpec, names: readonly string[], description: string) => ({
    address: topic.name,
    description,
    messages: Object.fromEntries(names.map((name) => [name, { $ref: `#/components/messages/${name}` }])),
    bindings: {
      kafka: {
        topic: topic.name,
        partitions: topic.partitions,
        topicConfiguration: kafkaTopicConfiguration(topic),
        bindingVersion: KAFKA_BINDING_VERSION,
      },
    },
  });
  const operation = (action: 'send' | 'receive', channel: string, names: readonly string[], summary: string) => ({
    action,
    summary,
    channel: { $ref: `#/channels/${channel}` },
    messages: names.map((name) => ({ $ref: `#/channels/${channel}/messages/${name}` })),
  });
  return {
    asyncapi: '3.0.0',
    info: {
      title: `${contract.name} events`,
      version: options.version,
      description:
        `Every event of the ${contract.name} domain, keyed by ${STREAM_ID_FIELD}: one partition per stream, in version order. ` +
        'Each event type has a JSON Schema per schemaVersion (also published as files under docs/contracts); a reader ' +
        'upcasts older versions to the current one and treats a version newer than it knows as one it cannot read. ' +
        'Delivery is at-least-once: deduplicate on (orderId, version).',
    },
    defaultContentType: 'application/json',
    servers: Object.fromEntries(
      options.brokers.map((broker, index) => [
        `broker${String(index + 1)}`,
        { host: broker, protocol: 'kafka', description: 'a bootstrap broker' },
      ]),
    ),
    channels: {
      events: channelOf(options.events, eventMessages, options.events.value),
      deadLetters: channelOf(options.deadLetters, ['DeadLetter'], options.deadLetters.value),
    },
    operations: {
      publishEvents: operation('send', 'events', eventMessages, "The outbox relay publishes the event store's events."),
      consumeEvents: operation('receive', 'events', eventMessages, 'Projections (and outside consumers) read them.'),
      publishDeadLetters: operation('send', 'deadLetters', ['DeadLetter'], 'Projections forward what they park.'),
    },
    components: { schemas, messages },
  };
}

/** The topic settings the Kafka binding can say (retention, cleanup, min in-sync replicas). */
function kafkaTopicConfiguration(topic: TopicSpec): JsonObject {
  const config = topic.config;
  const number = (name: string): number | undefined => (config[name] === undefined ? undefined : Number(config[name]));
  const policy = config['cleanup.policy'];
  return Object.fromEntries(
    Object.entries({
      'cleanup.policy': policy === undefined ? undefined : policy.split(','),
      'retention.ms': number('retention.ms'),
      'retention.bytes': number('retention.bytes'),
      'min.insync.replicas': number('min.insync.replicas'),
    }).filter(([, value]) => value !== undefined),
  );
}

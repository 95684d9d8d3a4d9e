import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';

import { loadConfig, type AppConfig } from '@app/platform';

import { deadLetterTopic, orderEventsTopic } from '../topics.js';
import { ORDER_EVENTS } from './order-events.contract.js';
import { asyncApiDocument, contractSchemaFiles } from './published-contract.js';

/** The AsyncAPI document of this deployment's topics, as the command API serves it at /docs/asyncapi.json. */
export function orderEventsAsyncApi(config: AppConfig): Record<string, unknown> {
  return asyncApiDocument(ORDER_EVENTS, {
    events: orderEventsTopic(config),
    deadLetters: deadLetterTopic(config),
    brokers: config.kafka.brokers,
    version: `${packageVersion()}+contract.${contractDigest()}`,
  });
}

/** As docs/asyncapi.json publishes it: with the documented defaults, whatever this machine's environment says. */
export function publishedAsyncApi(): Record<string, unknown> {
  return orderEventsAsyncApi(loadConfig({}));
}

/** A digest of every published schema: the document's version changes whenever the contract does. */
function contractDigest(): string {
  const files = [...contractSchemaFiles(ORDER_EVENTS)].sort(([a], [b]) => a.localeCompare(b));
  return createHash('sha256').update(JSON.stringify(files)).digest('hex').slice(0, 12);
}

/** The application's version (package.json, beside dist/ or the sources): the document's `info.version`. */
function packageVersion(): string {
  for (const levels of ['../../../../package.json', '../../../../../package.json']) {
    try {
      const { version } = JSON.parse(readFileSync(new URL(levels, import.meta.url), 'utf8')) as { version?: unknown };
      if (typeof version === 'string') return version;
    } catch {
      // not at this depth: sources run from libs/, builds from dist/
    }
  }
  return '0.0.0';
}

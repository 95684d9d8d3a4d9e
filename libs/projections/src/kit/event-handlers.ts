import type { DomainEvent, EventEnvelope } from '@app/messaging';

/**
 * How a projection treats each event type of its domain: a handler, or `'ignore'`. A mapped type over
 * the domain's event union, so the compiler lists every type: a new event fails `npm run typecheck` in
 * each projection until its author decides what it means there.
 */
export type EventHandlers<E extends DomainEvent, Current, Result> = {
  readonly [Type in E['type']]:
    ((current: Current, event: EventEnvelope<Extract<E, { type: Type }>>) => Result) | 'ignore';
};

/** A handler looked up by the type a record carries at run time. */
export type AnyHandler<Current, Result> = (current: Current, event: EventEnvelope) => Result;

export function handlerFor<Current, Result>(
  handlers: Readonly<Record<string, unknown>>,
  type: string,
): AnyHandler<Current, Result> | undefined {
  const handler = Object.hasOwn(handlers, type) ? handlers[type] : undefined;
  return typeof handler === 'function' ? (handler as AnyHandler<Current, Result>) : undefined;
}

/** The types a projection reads: the runner hands it only these. */
export function eventTypesOf(handlers: Readonly<Record<string, unknown>>): { handles: string[] } {
  return { handles: Object.keys(handlers).filter((type) => handlers[type] !== 'ignore') };
}

/** For handlers of events that only make sense after the stream's first one. */
export function existing<Row>(current: Row | undefined, event: EventEnvelope): Row {
  if (current === undefined) throw new Error(`${event.type} for ${event.streamId} before the stream's first event`);
  return current;
}

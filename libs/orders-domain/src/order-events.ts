/**
 * An order's events as the log keeps them: each type's data at every schema version it was ever
 * written with, oldest first, and how each version becomes the next (its upcaster). This is the one
 * declaration of the events' shapes: the TypeScript types below are derived from it, the JSON Schemas
 * published in docs/contracts and docs/asyncapi.json are generated from it, and every reader (the
 * event store before `decide`, the projections, rebuilds, single-order replays) upcasts through it,
 * so the domain and the projections only ever see the current version.
 *
 * Change an event's shape (docs/how-to.md, "Change an event's shape"): an optional field may be added
 * to the current version in place; anything else is a new version with an upcaster from the one
 * before. A released version never changes: its records are already in the log.
 *
 * TypeBox is the one library the domain imports (ADR 10): a dependency-free builder of plain JSON
 * Schema objects that also gives their TypeScript types, so the wire contract and the types cannot drift.
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** An event type's versions: `schemas[n - 1]` is version n; `upcasters[n - 1]` turns version n into n + 1. */
export interface EventVersions<Current extends TSchema = TSchema> {
  readonly schemas: readonly TSchema[];
  readonly upcasters: readonly ((data: never) => unknown)[];
  readonly current: Current;
}

function firstVersion<Schema extends TSchema>(schema: Schema): EventVersions<Schema> {
  return { schemas: [schema], upcasters: [], current: schema };
}

/** The next version of an event type, and the pure function that turns a record of the previous one into it. */
function nextVersion<Previous extends TSchema, Schema extends TSchema>(
  previous: EventVersions<Previous>,
  schema: Schema,
  upcast: (data: Static<Previous>) => Static<Schema>,
): EventVersions<Schema> {
  return { schemas: [...previous.schemas, schema], upcasters: [...previous.upcasters, upcast], current: schema };
}

/** A string from a fixed list: `enum` in the JSON Schema, a union of literals in TypeScript. */
function oneOf<const Values extends readonly string[]>(values: Values, description: string) {
  return Type.Unsafe<Values[number]>({ type: 'string', enum: [...values], description });
}

const Identifier = (description: string) => Type.String({ minLength: 1, description });

const OrderLineSchema = Type.Object(
  {
    sku: Identifier('stock-keeping unit'),
    quantity: Type.Integer({ minimum: 1 }),
    unitPriceMinor: Type.Integer({ minimum: 0, description: 'price of one unit in minor units (cents)' }),
  },
  { title: 'OrderLine' },
);

/** Where an order was placed. */
export const ORDER_CHANNELS = ['web', 'store', 'phone'] as const;
export type OrderChannel = (typeof ORDER_CHANNELS)[number];

const OrderPlacedV1 = Type.Object({
  customerId: Identifier('the customer who placed the order'),
  currency: Type.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }),
  lines: Type.Array(OrderLineSchema),
});

const OrderPlacedV2 = Type.Object({
  ...OrderPlacedV1.properties,
  channel: oneOf(ORDER_CHANNELS, 'where the order was placed'),
});

/** Every event type with its versions. A new event type starts here; the compiler then lists what must handle it. */
export const ORDER_EVENT_VERSIONS = {
  // v2 (issue 16): the channel the order came through; every order before it came through the web shop.
  OrderPlaced: nextVersion(firstVersion(OrderPlacedV1), OrderPlacedV2, (v1) => ({ ...v1, channel: 'web' as const })),
  OrderLineAdded: firstVersion(Type.Object({ line: OrderLineSchema })),
  OrderLineRemoved: firstVersion(Type.Object({ sku: Identifier('the line removed') })),
  OrderConfirmed: firstVersion(Type.Object({ paymentReference: Identifier('the payment that confirmed it') })),
  OrderShipped: firstVersion(Type.Object({ carrier: Identifier('carrier'), trackingNumber: Identifier('tracking') })),
  OrderDelivered: firstVersion(Type.Object({})),
  OrderCancelled: firstVersion(Type.Object({ reason: Type.String() })),
  OrderReturned: firstVersion(Type.Object({ reason: Type.String() })),
} satisfies Record<string, EventVersions>;

/** Deeply readonly: events are facts. */
type Immutable<T> = T extends readonly (infer Item)[]
  ? readonly Immutable<Item>[]
  : T extends object
    ? { readonly [Key in keyof T]: Immutable<T[Key]> }
    : T;

type Versions = typeof ORDER_EVENT_VERSIONS;

/** The current version of each event, as the domain and the projections see it. */
export type OrderEvent = {
  [Type in keyof Versions]: Readonly<{ type: Type; data: Immutable<Static<Versions[Type]['current']>> }>;
}[keyof Versions];

export type OrderEventType = OrderEvent['type'];
type EventOf<Type extends OrderEventType> = Extract<OrderEvent, { type: Type }>;

export type OrderLine = Immutable<Static<typeof OrderLineSchema>>;
export type OrderPlaced = EventOf<'OrderPlaced'>;
export type OrderLineAdded = EventOf<'OrderLineAdded'>;
export type OrderLineRemoved = EventOf<'OrderLineRemoved'>;
export type OrderConfirmed = EventOf<'OrderConfirmed'>;
export type OrderShipped = EventOf<'OrderShipped'>;
export type OrderDelivered = EventOf<'OrderDelivered'>;
export type OrderCancelled = EventOf<'OrderCancelled'>;
export type OrderReturned = EventOf<'OrderReturned'>;

/** Every event type, for registries that must list them (topic consumers, decoders). */
export const ORDER_EVENT_TYPES: readonly OrderEventType[] = Object.keys(ORDER_EVENT_VERSIONS) as OrderEventType[];

export function isOrderEventType(type: string): type is OrderEventType {
  return Object.hasOwn(ORDER_EVENT_VERSIONS, type);
}

/** The schema version new events of this type are written with: its latest. */
export function currentSchemaVersion(type: OrderEventType): number {
  return ORDER_EVENT_VERSIONS[type].schemas.length;
}

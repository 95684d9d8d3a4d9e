import type { OrderView, OrderViewLine } from '@app/read-models';

/** The order as clients read it; field names are part of the HTTP contract. */
export interface OrderResponse {
  readonly orderId: string;
  readonly customerId: string;
  readonly status: string;
  readonly currency: string;
  readonly lines: readonly OrderViewLine[];
  readonly totalMinor: number;
  readonly version: number;
  readonly placedAt: string;
  readonly confirmedAt: string | null;
  readonly shippedAt: string | null;
  readonly deliveredAt: string | null;
  readonly cancelledAt: string | null;
  readonly updatedAt: string;
  readonly paymentReference: string | null;
  readonly carrier: string | null;
  readonly trackingNumber: string | null;
  readonly cancelReason: string | null;
}

export function toOrderResponse(view: OrderView): OrderResponse {
  return {
    orderId: view.orderId,
    customerId: view.customerId,
    status: view.status,
    currency: view.currency,
    lines: view.lines,
    totalMinor: Number(view.totalMinor),
    version: view.version,
    placedAt: view.placedAt.toISOString(),
    confirmedAt: view.confirmedAt?.toISOString() ?? null,
    shippedAt: view.shippedAt?.toISOString() ?? null,
    deliveredAt: view.deliveredAt?.toISOString() ?? null,
    cancelledAt: view.cancelledAt?.toISOString() ?? null,
    updatedAt: view.updatedAt.toISOString(),
    paymentReference: view.paymentReference,
    carrier: view.carrier,
    trackingNumber: view.trackingNumber,
    cancelReason: view.cancelReason,
  };
}

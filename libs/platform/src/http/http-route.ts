import type { IncomingMessage } from 'node:http';

/**
 * The route pattern each request matched (`/orders/:id/confirm`), by its Node request, for what sees
 * only that: the request metrics, and the tracing of Node's HTTP server (which loads before the app).
 */
const routes = new WeakMap<IncomingMessage, string>();

export function setRouteOf(request: IncomingMessage, route: string): void {
  routes.set(request, route);
}

/** The pattern the request matched, or undefined when it matched none (a 404). */
export function routeOf(request: IncomingMessage): string | undefined {
  return routes.get(request);
}

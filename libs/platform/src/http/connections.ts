import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * How long an idle kept-alive connection stays open, and how long clients are told it does.
 *
 * Closing an idle connection races with a client sending its next request on it: the request meets
 * a closed socket ("other side closed", ECONNRESET) and is never answered, and clients do not resend
 * a POST. Clients close first when they are told a shorter time than the server keeps (fetch closes
 * 2 s before the advertised time, Node's agent 1 s), but a client whose event loop stalls for longer
 * than that margin loses the race. So the server keeps idle connections a minute longer than it says.
 */
const ADVERTISED_IDLE_SECONDS = 5;
const KEPT_IDLE_MS = 65_000;

/** Sets the idle timeout on `server` and returns what advertises the shorter one on each response. */
export function keepIdleConnectionsLonger(server: Server): (response: Pick<ServerResponse, 'setHeader'>) => void {
  server.keepAliveTimeout = KEPT_IDLE_MS;
  // close() ends the connections idle at that moment; one busy then becomes idle after its response
  // and would hold the shutdown for the whole idle time, so it is ended as soon as it is idle.
  server.on('request', (_request: IncomingMessage, response: ServerResponse) => {
    response.once('close', () => {
      if (!server.listening) server.closeIdleConnections();
    });
  });
  return (response) => {
    // Replaces Node's own hint, which would advertise KEPT_IDLE_MS itself.
    response.setHeader('Keep-Alive', `timeout=${String(ADVERTISED_IDLE_SECONDS)}`);
  };
}

/**
 * How long a connection refused for a malformed request keeps reading (and discarding) what the
 * client still sends, at most. A client cannot hold the socket longer than this.
 */
const LINGER_MS = 10_000;

/** Node's own answers to the errors its HTTP parser reports, in this API's JSON error shape. */
const ANSWERS: Readonly<Record<string, { readonly status: number; readonly message: string }>> = {
  HPE_HEADER_OVERFLOW: { status: 431, message: 'the request headers are larger than this API accepts' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, message: 'the chunk extensions are larger than this API accepts' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'the request was not received in time' },
};
const MALFORMED = { status: 400, message: 'the request is not well-formed HTTP/1.1' };

/**
 * Answers a request that Node's HTTP parser refuses (headers over its size limit, a malformed request
 * line or header, a slow request) with a JSON 4xx, and then closes the connection the way RFC 9112
 * §9.6 asks: it half-closes, and keeps reading what the client still sends until the client is done.
 *
 * Node's default writes the answer and destroys the socket at once. A client still writing a large
 * body then hits a socket that no longer reads: the kernel answers the next segment with a reset,
 * the client's write fails (EPIPE, ECONNRESET) and the answer already in its buffer is thrown away.
 * So the client saw a broken connection instead of the 4xx it deserved.
 */
export function answerMalformedRequests(server: Server): void {
  /**
   * Responses under way per socket (pipelined requests may overlap): a parse error there is a broken
   * body or a later request, and an answer written now could land inside a response.
   */
  const handling = new WeakMap<Socket, number>();
  const lingering = new WeakSet<Socket>();
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    handling.set(socket, (handling.get(socket) ?? 0) + 1);
    response.once('close', () => {
      handling.set(socket, (handling.get(socket) ?? 1) - 1);
    });
  });
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // The parser stays failed and reports every later chunk again: the first report decided.
    if (lingering.has(socket)) return;
    if (error.code === 'ECONNRESET' || !socket.writable || (handling.get(socket) ?? 0) > 0) {
      socket.destroy();
      return;
    }
    lingering.add(socket);
    const { status, message } = ANSWERS[error.code ?? ''] ?? MALFORMED;
    const reason = STATUS_CODES[status] ?? 'Bad Request';
    const body = JSON.stringify({ statusCode: status, error: reason, message });
    socket.end(
      `HTTP/1.1 ${String(status)} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${String(Buffer.byteLength(body))}\r\nConnection: close\r\n\r\n${body}`,
    );
    // Node's parser keeps consuming (and discarding) the rest; the socket goes when the client ends it.
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('end', () => {
      socket.destroy();
    });
    socket.once('close', () => {
      clearTimeout(timer);
    });
  });
}

import { connect, type Socket } from 'node:net';

export interface RawResponse {
  readonly status: number;
  /** Header names in lower case; every occurrence of a repeated header. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly body: string;
}

/**
 * One HTTP/1.1 request written byte for byte on its own connection: for what HTTP clients refuse to
 * send (a header twice, a value with surrounding spaces, CR or LF inside a header, a path that is not
 * normalised). `headerLines` are written as given (`Name: value`), each followed by CRLF.
 *
 * Resolves once the server has answered and closed a connection that took the whole request; rejects
 * when the connection breaks first, even after part of an answer arrived: a server that stops reading
 * before the body ends resets the connection, and a real client then loses the answer (EPIPE on write).
 */
export async function rawHttpRequest(
  baseUrl: string,
  {
    method,
    path,
    headerLines = [],
    body,
  }: { method: string; path: string; headerLines?: readonly string[]; body?: string | Buffer },
): Promise<RawResponse> {
  const url = new URL(baseUrl);
  const request = requestBytes(method, path, url.host, ['Connection: close', ...headerLines], body);
  const received = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(url.port), url.hostname, () => {
      // Not end(): a half-closed connection may be dropped before a slow answer; Connection: close ends it.
      socket.write(request);
    });
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', (hadError) => {
      if (!hadError) resolve(Buffer.concat(chunks));
    });
    socket.on('error', (error) => {
      reject(
        new Error(
          `${method} ${path}: the connection broke after ${String(Buffer.concat(chunks).length)} bytes of answer`,
          { cause: error },
        ),
      );
    });
  });
  return parseResponse(received);
}

/** A request as written on the wire: `headerLines` as given, and a Content-Length for a body. */
function requestBytes(
  method: string,
  path: string,
  host: string,
  headerLines: readonly string[],
  body: string | Buffer | undefined,
): Buffer {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  const head = [
    `${method} ${path} HTTP/1.1`,
    `Host: ${host}`,
    ...headerLines,
    ...(body === undefined ? [] : [`Content-Length: ${String(payload.length)}`]),
  ].join('\r\n');
  return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), payload]);
}

function parseResponse(raw: Buffer): RawResponse {
  const split = raw.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`not an HTTP response: ${JSON.stringify(raw.toString('latin1').slice(0, 200))}`);
  const [statusLine = '', ...lines] = raw.subarray(0, split).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  const headers: Record<string, string[]> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    (headers[name] ??= []).push(line.slice(colon + 1).trim());
  }
  let body = raw.subarray(split + 4);
  if (headers['transfer-encoding']?.includes('chunked')) body = dechunk(body);
  return { status, headers, body: body.toString('utf8') };
}

function dechunk(body: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at);
    const size = parseInt(body.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) return Buffer.concat(parts);
    parts.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

/**
 * A kept-alive HTTP/1.1 connection: requests one after another on the same socket, each answer read
 * by its Content-Length. For what happens to a connection between requests (idle timeouts).
 */
export class RawHttpConnection {
  private received = Buffer.alloc(0);
  private closed: Error | undefined;
  private waiting: (() => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly host: string,
  ) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
      this.waiting?.();
    });
    const close = (error?: Error): void => {
      this.closed ??= error ?? new Error('the server closed the connection');
      this.waiting?.();
    };
    socket.on('end', () => {
      close();
    });
    socket.on('error', close);
  }

  static open(baseUrl: string): Promise<RawHttpConnection> {
    const url = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(url.port), url.hostname, () => {
        resolve(new RawHttpConnection(socket, url.host));
      });
      socket.once('error', reject);
    });
  }

  /** `headerLines` as rawHttpRequest writes them; a body gets its Content-Length. */
  async request(
    method: string,
    path: string,
    { headerLines = [], body }: { headerLines?: readonly string[]; body?: string } = {},
  ): Promise<RawResponse> {
    this.throwIfClosed();
    this.socket.write(requestBytes(method, path, this.host, headerLines, body));
    for (;;) {
      const answer = this.takeAnswer();
      if (answer) return answer;
      this.throwIfClosed();
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
      this.waiting = undefined;
    }
  }

  private throwIfClosed(): void {
    if (this.closed) throw this.closed;
  }

  close(): void {
    this.socket.destroy();
  }

  /** The first complete answer received, removed from the buffer; undefined until one is complete. */
  private takeAnswer(): RawResponse | undefined {
    const split = this.received.indexOf('\r\n\r\n');
    if (split < 0) return undefined;
    const length = Number(
      /\r\ncontent-length:\s*(\d+)/i.exec(this.received.subarray(0, split).toString('latin1'))?.[1] ?? 0,
    );
    const end = split + 4 + length;
    if (this.received.length < end) return undefined;
    const answer = parseResponse(this.received.subarray(0, end));
    this.received = this.received.subarray(end);
    return answer;
  }
}

import formatsPlugin from 'ajv-formats';
import { OpenAPIBackend, type Document, type Operation } from 'openapi-backend';

/** ajv-formats is CommonJS: Node's ESM hands over `module.exports`, which carries the plugin as `default` too. */
const addFormats = formatsPlugin.default;

/** One answer of an API to one request, as a client saw it. */
export interface Exchange {
  readonly method: string;
  /** The path as requested, with its query string if any. */
  readonly url: string;
  readonly status: number;
  /** The Content-Type header of the answer, if any. */
  readonly contentType: string | undefined;
  /** The body as text; empty when there was none. */
  readonly text: string;
}

/**
 * Holds answers to an OpenAPI document with openapi-backend, a validator that knows nothing of how
 * the document was made: its own router finds the operation a request names, and Ajv (with formats)
 * checks the body against that operation's schema for the status. Around it, what openapi-backend
 * lets pass silently and a client would not: a status the operation does not document, a body of
 * another media type than documented, a body where none is documented, none where one is.
 */
export class OpenApiChecker {
  /** `operationId status` of every answer checked, to see what a session covered. */
  readonly seen = new Set<string>();

  private constructor(private readonly api: OpenAPIBackend) {}

  static async of(document: unknown): Promise<OpenApiChecker> {
    const api = new OpenAPIBackend({
      definition: document as Document,
      strict: true, // a document that is not valid OpenAPI fails here, before any answer is judged
      validate: true,
      customizeAjv: (ajv) => {
        addFormats(ajv);
        return ajv;
      },
    });
    await api.init();
    return new OpenApiChecker(api);
  }

  /** Every operation of the document, as `operationId`. */
  operationIds(): string[] {
    return this.api.router
      .getOperations()
      .map((operation) => operation.operationId ?? `${operation.method} ${operation.path}`);
  }

  /** What is wrong with an answer by the document; empty when it holds to it. */
  problems({ method, url, status, contentType, text }: Exchange): string[] {
    const where = `${method.toUpperCase()} ${url} → ${String(status)}`;
    const [path = '/', query = ''] = url.split('?', 2);
    const operation = this.api.matchOperation({ method: method.toLowerCase(), path, headers: {}, query });
    if (!operation) return [`${where}: no operation of the document matches the request`];
    const id = operation.operationId ?? `${method} ${path}`;
    this.seen.add(`${id} ${String(status)}`);
    const response = documentedResponse(operation, status);
    if (!response)
      return [
        `${where}: ${id} documents no ${String(status)} (only ${Object.keys(operation.responses ?? {}).join(', ')})`,
      ];
    const mediaTypes = Object.keys(response.content ?? {});
    if (mediaTypes.length === 0)
      return text === ''
        ? []
        : [`${where}: ${id} documents no body for ${String(status)}, and one came: ${text.slice(0, 200)}`];
    const mediaType = contentType?.split(';')[0]?.trim().toLowerCase();
    if (mediaType === undefined || !mediaTypes.includes(mediaType))
      return [`${where}: Content-Type ${contentType ?? '(none)'}, documented ${mediaTypes.join(', ')}`];
    if (mediaType !== 'application/json') return [];
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return [`${where}: the body is not JSON: ${text.slice(0, 200)}`];
    }
    const { errors } = this.api.validateResponse(body, operation, status);
    return (errors ?? []).map(
      (error) =>
        `${where}: ${error.instancePath || '/'} ${error.message ?? error.keyword} (${JSON.stringify(error.params)})`,
    );
  }
}

interface ResponseObject {
  readonly content?: Record<string, unknown>;
}

/** The operation's response for the status itself, or for its class (`4XX`); never `default`, which this project does not use. */
function documentedResponse(operation: Operation, status: number): ResponseObject | undefined {
  const responses = (operation.responses ?? {}) as Record<string, ResponseObject | undefined>;
  return responses[String(status)] ?? responses[`${String(Math.floor(status / 100))}XX`];
}

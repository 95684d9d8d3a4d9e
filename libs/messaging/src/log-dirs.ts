import { connect } from 'node:net';

/**
 * Log size per partition, asked of one broker with Kafka's DescribeLogDirs request (API key 35).
 *
 * kafkajs 2.x does not implement this request, and its protocol encoders are internal modules that a
 * patch release could move. The request is small and stable on the wire (version 1 is served from
 * Kafka 1.1 to 4.x; 0 was dropped in 4.0), so it is encoded here, on a plain TCP connection of its
 * own: no kafkajs internals, and a broker that does not answer costs one connection and a timeout.
 * Plaintext only, as every connection this project makes; a cluster behind TLS or SASL needs the
 * broker's JMX gauge `kafka.log:type=Log,name=Size` instead (docs/monitoring.md).
 */

const DESCRIBE_LOG_DIRS = 35;
const VERSION = 1;

/** One replica's log, as one broker holds it in one of its log directories. */
export interface ReplicaLogSize {
  readonly topic: string;
  readonly partition: number;
  readonly bytes: number;
  readonly logDir: string;
  /** A copy being moved to another directory of the same broker: counted by the broker, not a replica. */
  readonly future: boolean;
}

export class DescribeLogDirsError extends Error {
  override readonly name = 'DescribeLogDirsError';
}

/** The request, size prefix included. `topics` names the partitions to describe; the broker skips those it does not hold. */
export function encodeDescribeLogDirsRequest(
  correlationId: number,
  clientId: string,
  topics: readonly { readonly topic: string; readonly partitions: readonly number[] }[],
): Buffer {
  const parts: Buffer[] = [int16(DESCRIBE_LOG_DIRS), int16(VERSION), int32(correlationId), string(clientId)];
  parts.push(int32(topics.length));
  for (const { topic, partitions } of topics) {
    parts.push(string(topic), int32(partitions.length), ...partitions.map(int32));
  }
  const body = Buffer.concat(parts);
  return Buffer.concat([int32(body.length), body]);
}

/** The response without its size prefix. Throws on a truncated or overlong frame, or an error code. */
export function decodeDescribeLogDirsResponse(frame: Buffer, correlationId: number): ReplicaLogSize[] {
  const read = new FrameReader(frame);
  if (read.int32() !== correlationId) throw new DescribeLogDirsError('response to another request');
  read.int32(); // throttle time
  const sizes: ReplicaLogSize[] = [];
  for (let dirs = read.count(); dirs > 0; dirs--) {
    const errorCode = read.int16();
    const logDir = read.string();
    // A directory the broker marked offline (a failed disk) has no sizes: the partitions it held are
    // offline or under-replicated, which the metadata shows.
    if (errorCode !== 0) throw new DescribeLogDirsError(`log dir ${logDir}: error code ${String(errorCode)}`);
    for (let topics = read.count(); topics > 0; topics--) {
      const topic = read.string();
      for (let partitions = read.count(); partitions > 0; partitions--) {
        const partition = read.int32();
        const bytes = Number(read.int64());
        read.int64(); // offset lag: only meaningful for a future replica
        const future = read.int8() !== 0;
        sizes.push({ topic, partition, bytes, logDir, future });
      }
    }
  }
  if (!read.done()) throw new DescribeLogDirsError('response longer than its fields');
  return sizes;
}

/** Asks one broker for the sizes of the named partitions' replicas it holds; bounded by `timeoutMs`. */
export function describeLogDirs(
  broker: { readonly host: string; readonly port: number },
  clientId: string,
  topics: readonly { readonly topic: string; readonly partitions: readonly number[] }[],
  timeoutMs: number,
): Promise<ReplicaLogSize[]> {
  const correlationId = 1;
  return new Promise((resolve, reject) => {
    const socket = connect({ host: broker.host, port: broker.port });
    let received = Buffer.alloc(0);
    const fail = (error: Error): void => {
      socket.destroy();
      reject(error);
    };
    socket.setTimeout(timeoutMs, () => {
      fail(
        new DescribeLogDirsError(
          `broker ${broker.host}:${String(broker.port)} did not answer in ${String(timeoutMs)} ms`,
        ),
      );
    });
    socket.on('error', fail);
    socket.on('connect', () => socket.write(encodeDescribeLogDirsRequest(correlationId, clientId, topics)));
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4 || received.length < 4 + received.readInt32BE(0)) return;
      socket.end();
      try {
        resolve(decodeDescribeLogDirsResponse(received.subarray(4, 4 + received.readInt32BE(0)), correlationId));
      } catch (error) {
        reject(error instanceof Error ? error : new DescribeLogDirsError(String(error)));
      }
    });
  });
}

function int16(value: number): Buffer {
  const buffer = Buffer.alloc(2);
  buffer.writeInt16BE(value);
  return buffer;
}

function int32(value: number): Buffer {
  const buffer = Buffer.alloc(4);
  buffer.writeInt32BE(value);
  return buffer;
}

function string(value: string): Buffer {
  const bytes = Buffer.from(value, 'utf8');
  return Buffer.concat([int16(bytes.length), bytes]);
}

/** Reads big-endian fields in order, refusing to read past the frame. */
class FrameReader {
  private offset = 0;

  constructor(private readonly frame: Buffer) {}

  int8(): number {
    return this.frame.readInt8(this.take(1));
  }

  int16(): number {
    return this.frame.readInt16BE(this.take(2));
  }

  int32(): number {
    return this.frame.readInt32BE(this.take(4));
  }

  int64(): bigint {
    return this.frame.readBigInt64BE(this.take(8));
  }

  /** An array's length; a null array (-1) is empty. */
  count(): number {
    return Math.max(0, this.int32());
  }

  string(): string {
    const length = this.int16();
    if (length < 0) return '';
    const start = this.take(length);
    return this.frame.toString('utf8', start, start + length);
  }

  done(): boolean {
    return this.offset === this.frame.length;
  }

  private take(bytes: number): number {
    const start = this.offset;
    if (start + bytes > this.frame.length) throw new DescribeLogDirsError('response shorter than its fields');
    this.offset += bytes;
    return start;
  }
}

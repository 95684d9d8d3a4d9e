import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { DescribeLogDirsError, decodeDescribeLogDirsResponse, encodeDescribeLogDirsRequest } from './log-dirs.js';

/** Big-endian fields, written the way the broker writes a DescribeLogDirs v1 response. */
class Frame {
  private readonly parts: Buffer[] = [];
  int8(value: number): this {
    const buffer = Buffer.alloc(1);
    buffer.writeInt8(value);
    return this.push(buffer);
  }
  int16(value: number): this {
    const buffer = Buffer.alloc(2);
    buffer.writeInt16BE(value);
    return this.push(buffer);
  }
  int32(value: number): this {
    const buffer = Buffer.alloc(4);
    buffer.writeInt32BE(value);
    return this.push(buffer);
  }
  int64(value: bigint): this {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64BE(value);
    return this.push(buffer);
  }
  string(value: string): this {
    return this.int16(Buffer.byteLength(value)).push(Buffer.from(value));
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
  private push(buffer: Buffer): this {
    this.parts.push(buffer);
    return this;
  }
}

/** One log dir holding two partitions of one topic, the second a future replica. */
function response(correlationId: number, errorCode = 0): Frame {
  return new Frame()
    .int32(correlationId)
    .int32(0) // throttle
    .int32(1) // log dirs
    .int16(errorCode)
    .string('/var/kafka')
    .int32(1) // topics
    .string('orders.events')
    .int32(2) // partitions
    .int32(0)
    .int64(1071n)
    .int64(0n)
    .int8(0)
    .int32(3)
    .int64(5_000_000_000n)
    .int64(12n)
    .int8(1);
}

describe('DescribeLogDirs, version 1', () => {
  it('encodes the request header and the partitions asked for, size first', () => {
    const request = encodeDescribeLogDirsRequest(7, 'orders', [{ topic: 'orders.events', partitions: [0, 3] }]);
    const expected = new Frame()
      .int16(35)
      .int16(1)
      .int32(7)
      .string('orders')
      .int32(1)
      .string('orders.events')
      .int32(2)
      .int32(0)
      .int32(3)
      .build();
    assert.equal(request.readInt32BE(0), expected.length);
    assert.deepEqual(request.subarray(4), expected);
  });

  it('decodes each replica with its size, beyond 32 bits, and whether it is a future copy', () => {
    assert.deepEqual(decodeDescribeLogDirsResponse(response(7).build(), 7), [
      { topic: 'orders.events', partition: 0, bytes: 1071, logDir: '/var/kafka', future: false },
      { topic: 'orders.events', partition: 3, bytes: 5_000_000_000, logDir: '/var/kafka', future: true },
    ]);
  });

  it('refuses a truncated response, trailing bytes, an answer to another request and a failed log dir', () => {
    const whole = response(7).build();
    assert.throws(() => decodeDescribeLogDirsResponse(whole.subarray(0, whole.length - 1), 7), /shorter/);
    assert.throws(() => decodeDescribeLogDirsResponse(Buffer.concat([whole, Buffer.alloc(1)]), 7), /longer/);
    assert.throws(() => decodeDescribeLogDirsResponse(whole, 8), /another request/);
    assert.throws(() => decodeDescribeLogDirsResponse(response(7, 57).build(), 7), DescribeLogDirsError);
  });
});

import { randomUUID } from 'node:crypto';

/** Time and ids are injected, so handlers and tests decide them, never the domain. */
export abstract class Clock {
  abstract now(): Date;
}

export abstract class IdGenerator {
  abstract next(): string;
}

export class SystemClock extends Clock {
  now(): Date {
    return new Date();
  }
}

export class RandomIdGenerator extends IdGenerator {
  next(): string {
    return randomUUID();
  }
}

/**
 * The HTTP ceiling: a NestJS hello-world on the command API's adapter (Express), with nothing of
 * ours in the way. The benchmark sends it the same POSTs, with the same generator, as the command API.
 * `node dist/scripts/bench/hello-app.js <port>`
 */
import 'reflect-metadata';

import { Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';

@Controller()
class HelloController {
  @Post('orders')
  @HttpCode(201)
  hello(): { hello: string } {
    return { hello: 'world' };
  }
}

@Module({ controllers: [HelloController] })
class HelloModule {}

const app = await NestFactory.create(HelloModule, { logger: ['error'] });
await app.listen(Number(process.argv[2] ?? 0), '127.0.0.1');
console.log(`listening on ${await app.getUrl()}`);

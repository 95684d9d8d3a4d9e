/**
 * The HTTP ceiling: a NestJS hello-world with nothing of ours in the way, on the apps' adapter
 * (Fastify) or on Express's, for comparison. The benchmark sends it the same
 * POSTs, with the same generator, as the command API.
 * `node dist/scripts/bench/hello-app.js <port> [fastify|express]`
 */
import 'reflect-metadata';

import { Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';

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

const adapter = process.argv[3] ?? 'fastify';
if (adapter !== 'express' && adapter !== 'fastify') throw new Error(`unknown adapter ${adapter}`);
const app =
  adapter === 'fastify'
    ? await NestFactory.create(HelloModule, new FastifyAdapter(), { logger: ['error'] })
    : await NestFactory.create(HelloModule, { logger: ['error'] });
await app.listen(Number(process.argv[2] ?? 0), '127.0.0.1');
console.log(`listening on ${await app.getUrl()}`);

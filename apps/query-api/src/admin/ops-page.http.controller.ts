import { readFile } from 'node:fs/promises';

import { Controller, Get, Header } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';

import { OPS_PAGE_CSS, OPS_PAGE_HTML } from './ui/ops-page.assets.js';

/** Everything the page may load or call: this origin only, no inline script or style, never framed. */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The compiled page script, beside this file once built (tsc compiles ui/ops-page.client.ts with the rest). */
const SCRIPT_URL = new URL('./ui/ops-page.client.js', import.meta.url);

/**
 * The operations page at /admin/ui. Its HTML, script and style hold no data and are served without
 * the token; every call the script makes goes to the admin endpoints with `Authorization: Bearer`,
 * so the guard decides there exactly as for curl. Not part of the OpenAPI document: a page, not an API.
 */
@Controller('admin/ui')
@ApiExcludeController()
export class OpsPageController {
  private script: Promise<string> | undefined;

  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Content-Security-Policy', CONTENT_SECURITY_POLICY)
  @Header('Cache-Control', 'no-store')
  @Header('X-Content-Type-Options', 'nosniff')
  @Header('Referrer-Policy', 'no-referrer')
  page(): string {
    return OPS_PAGE_HTML;
  }

  @Get('ops.js')
  @Header('Content-Type', 'text/javascript; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  @Header('X-Content-Type-Options', 'nosniff')
  pageScript(): Promise<string> {
    // The source map stays on the server: the comment would only make browsers ask for it.
    this.script ??= readFile(SCRIPT_URL, 'utf8').then(
      (code) => code.replace(/^\/\/# sourceMappingURL=.*$/m, ''),
      (error: unknown) => {
        this.script = undefined; // read again on the next request
        throw error;
      },
    );
    return this.script;
  }

  @Get('ops.css')
  @Header('Content-Type', 'text/css; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  @Header('X-Content-Type-Options', 'nosniff')
  styleSheet(): string {
    return OPS_PAGE_CSS;
  }
}

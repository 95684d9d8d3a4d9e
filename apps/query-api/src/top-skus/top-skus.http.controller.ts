import { Controller, Get, Inject, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty } from '@nestjs/swagger';

import { AMOUNTS_BY_CURRENCY_SCHEMA, toMinorAmount, type MinorAmount } from '../shared/minor-amount.js';
import { bucketWindow } from '../shared/time-window.js';
import { TopSkusQueries } from './top-skus.queries.js';
import { TopSkusQuery } from './top-skus.query.dto.js';

const HOUR_MS = 3_600_000;
const DEFAULT_SPAN_MS = 24 * HOUR_MS;
const DEFAULT_LIMIT = 10;

export class TopSkuResponse {
  @ApiProperty({ example: 'BOOK-1' })
  readonly sku!: string;

  @ApiProperty({
    type: 'integer',
    description: 'Units in orders confirmed in the window, less those of orders since cancelled or returned.',
    example: 42,
  })
  readonly quantity!: number;

  @ApiProperty({
    ...AMOUNTS_BY_CURRENCY_SCHEMA,
    description: `What those units were sold for, per ISO 4217 currency. ${AMOUNTS_BY_CURRENCY_SCHEMA.additionalProperties.description}`,
  })
  readonly revenueByCurrency!: Readonly<Record<string, MinorAmount>>;
}

export class TopSkusResponse {
  @ApiProperty({ format: 'date-time', description: 'Start of the window, rounded down to the hour.' })
  readonly from!: string;

  @ApiProperty({ format: 'date-time', description: 'End of the window (exclusive), rounded up to the hour.' })
  readonly to!: string;

  @ApiProperty({ type: [TopSkuResponse], description: 'Most units first; ties by SKU.' })
  readonly items!: readonly TopSkuResponse[];
}

@Controller('stats')
export class TopSkusController {
  constructor(@Inject(TopSkusQueries) private readonly topSkus: TopSkusQueries) {}

  /** The best-selling SKUs of a window of hours, counted by the hour their order was confirmed. */
  @Get('top-skus')
  @ApiOperation({
    operationId: 'topSkus',
    summary: 'The SKUs with the most units in orders confirmed in a window of hours',
  })
  @ApiOkResponse({ type: TopSkusResponse })
  async topSkusBetween(@Query() query: TopSkusQuery): Promise<TopSkusResponse> {
    const { from, to } = bucketWindow(query, HOUR_MS, DEFAULT_SPAN_MS);
    const rows = await this.topSkus.between(new Date(from), new Date(to), query.limit ?? DEFAULT_LIMIT);
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      items: rows.map((row) => ({
        sku: row.sku,
        quantity: Number(row.quantity),
        revenueByCurrency: Object.fromEntries(
          Object.entries(row.revenue).map(([currency, amount]) => [currency, toMinorAmount(amount)]),
        ),
      })),
    };
  }
}

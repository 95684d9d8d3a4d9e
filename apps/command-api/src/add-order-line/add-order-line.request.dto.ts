import { OrderLineRequest } from '../shared/order-line.request.dto.js';

export class AddOrderLineRequest extends OrderLineRequest {}

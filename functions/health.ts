import middy from '@middy/core';
import { defaultContainer, type Container } from '../shared/container.js';
import type { ApiEvent } from '../shared/http/event.js';
import { json, type HttpResult } from '../shared/http/middleware.js';

/** `GET /health`: 200 once the configuration has loaded. Names the engine, never a URL or secret. */
export function createHealthHandler(c: Container) {
  return middy<ApiEvent, HttpResult>().handler(async () => json(200, { status: 'ok', database: c.settings.database.engine }));
}

export const handler = createHealthHandler(defaultContainer());

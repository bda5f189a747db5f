import middy from '@middy/core';
import { defaultContainer, type Container } from '../shared/container.js';
import { emqx4Answer, emqx4Errors, parseEmqx4Acl } from '../shared/http/emqx4.js';
import { explained } from '../shared/http/explain.js';
import { brokerAuth, httpInput, inputOf, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import type { AclRequest } from '../shared/types.js';

/** `GET|POST /emqx4/acl`: EMQX 4.x / Cloud v4 `acl_req`. */
export function createEmqx4AclHandler(c: Container) {
  return middy<InputEvent<AclRequest>, HttpResult>()
    .use(emqx4Errors({ log: c.log, route: 'emqx4-acl', policy: c.settings.authzBackendFailure, check: 'acl' }))
    .use(brokerAuth(c, 'emqx4-acl'))
    .use(httpInput(parseEmqx4Acl))
    .handler(async (event) => {
      const req = inputOf(event);
      const { outcome, trace } = await (await c.chain()).authorize(req);
      return explained(c.settings.explain, event, emqx4Answer('acl', outcome.result), [trace]);
    });
}

export const handler = createEmqx4AclHandler(defaultContainer());

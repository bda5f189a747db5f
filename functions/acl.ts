import middy from '@middy/core';
import { defaultContainer, type Container } from '../shared/container.js';
import { parseAclRequest } from '../shared/http/input.js';
import { brokerAuth, httpErrors, httpInput, inputOf, json, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import type { AclRequest } from '../shared/types.js';
import { explained } from '../shared/http/explain.js';

/** `GET|POST /mqtt/acl`: EMQX 5 HTTP authorization. */
export function createAclHandler(c: Container) {
  return middy<InputEvent<AclRequest>, HttpResult>()
    .use(httpErrors({ log: c.log, failure: c.settings.authzBackendFailure, route: 'acl' }))
    .use(brokerAuth(c, 'acl'))
    .use(httpInput(parseAclRequest))
    .handler(async (event) => {
      const req = inputOf(event);
      const { outcome, trace } = await (await c.chain()).authorize(req);
      return explained(c.settings.explain, event, json(200, { result: outcome.result }), [trace]);
    });
}

export const handler = createAclHandler(defaultContainer());

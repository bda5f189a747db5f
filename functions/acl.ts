import middy from '@middy/core';
import { authorize } from '../shared/authz.js';
import { defaultContainer, type Container } from '../shared/container.js';
import { parseAclRequest } from '../shared/http/input.js';
import { brokerAuth, httpErrors, httpInput, inputOf, json, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import type { AclRequest } from '../shared/types.js';

/** `GET|POST /mqtt/acl`: EMQX 5 HTTP authorization. */
export function createAclHandler(c: Container) {
  return middy<InputEvent<AclRequest>, HttpResult>()
    .use(httpErrors({ log: c.log, failure: c.settings.authzBackendFailure, route: 'acl' }))
    .use(brokerAuth(c, 'acl'))
    .use(httpInput(parseAclRequest))
    .handler(async (event) => {
      const req = inputOf(event);
      const { reason, ...answer } = await authorize(await c.authzDeps(), req);
      c.log.debug({ route: 'acl', clientid: req.clientid, action: req.action, result: answer.result, reason }, 'decision');
      return json(200, answer);
    });
}

export const handler = createAclHandler(defaultContainer());

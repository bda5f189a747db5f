import middy from '@middy/core';
import { authorize } from '../shared/authz.js';
import { defaultContainer, type Container } from '../shared/container.js';
import { emqx4Answer, emqx4Errors, parseEmqx4Acl } from '../shared/http/emqx4.js';
import { brokerAuth, httpInput, inputOf, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import type { AclRequest } from '../shared/types.js';

/** `GET|POST /emqx4/acl`: EMQX 4.x / Cloud v4 `acl_req`. */
export function createEmqx4AclHandler(c: Container) {
  return middy<InputEvent<AclRequest>, HttpResult>()
    .use(emqx4Errors({ log: c.log, route: 'emqx4-acl', policy: c.settings.authzBackendFailure, checkOf: () => 'acl' }))
    .use(brokerAuth(c, 'emqx4-acl'))
    .use(httpInput(parseEmqx4Acl))
    .handler(async (event) => {
      const req = inputOf(event);
      const o = await authorize(await c.authzDeps(), req);
      c.log.debug({ route: 'emqx4/acl', clientid: req.clientid, action: req.action, result: o.result, reason: o.reason }, 'decision');
      return emqx4Answer('acl', o.result);
    });
}

export const handler = createEmqx4AclHandler(defaultContainer());

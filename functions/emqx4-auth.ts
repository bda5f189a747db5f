import middy from '@middy/core';
import { authenticate } from '../shared/authn.js';
import { defaultContainer, type Container } from '../shared/container.js';
import { checkOfPath, emqx4Answer, emqx4Errors, parseEmqx4Auth, type Emqx4AuthRequest } from '../shared/http/emqx4.js';
import { brokerAuth, httpInput, inputOf, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import { checkSuperuser } from '../shared/superuser.js';

/** `GET|POST /emqx4/auth` and `/emqx4/superuser`: EMQX 4.x / Cloud v4 `auth_req` and `super_req`. */
export function createEmqx4AuthHandler(c: Container) {
  return middy<InputEvent<Emqx4AuthRequest>, HttpResult>()
    .use(emqx4Errors({ log: c.log, route: 'emqx4-auth', policy: c.settings.authnBackendFailure, checkOf: checkOfPath('auth') }))
    .use(brokerAuth(c, 'emqx4-auth'))
    .use(httpInput(parseEmqx4Auth))
    .handler(async (event) => {
      const req = inputOf(event);
      const deps = await c.authnDeps();
      if (req.kind === 'auth') {
        const o = await authenticate(deps, req.client);
        c.log.debug({ route: 'emqx4/auth', clientid: req.client.clientid, result: o.result, reason: o.reason }, 'decision');
        return emqx4Answer('auth', o.result);
      }
      const o = await checkSuperuser(deps, req.client);
      c.log.debug({ route: 'emqx4/superuser', clientid: req.client.clientid, superuser: o.yes, reason: o.reason }, 'decision');
      return emqx4Answer('superuser', o.yes ? 'allow' : 'deny');
    });
}

export const handler = createEmqx4AuthHandler(defaultContainer());

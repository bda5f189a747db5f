import middy from '@middy/core';
import { defaultContainer, type Container } from '../shared/container.js';
import { emqx4Answer, emqx4Errors, parseEmqx4Auth, type Emqx4AuthRequest } from '../shared/http/emqx4.js';
import { explained } from '../shared/http/explain.js';
import { brokerAuth, httpInput, inputOf, type HttpResult, type InputEvent } from '../shared/http/middleware.js';

/** `GET|POST /emqx4/auth` and `/emqx4/superuser`: EMQX 4.x / Cloud v4 `auth_req` and `super_req`. */
export function createEmqx4AuthHandler(c: Container) {
  return middy<InputEvent<Emqx4AuthRequest>, HttpResult>()
    .use(emqx4Errors({ log: c.log, route: 'emqx4-auth', policy: c.settings.authnBackendFailure, check: 'auth' }))
    .use(brokerAuth(c, 'emqx4-auth'))
    .use(httpInput(parseEmqx4Auth))
    .handler(async (event) => {
      const req = inputOf(event);
      const chain = await c.chain();
      if (req.kind === 'auth') {
        const { outcome, trace } = await chain.authenticate(req.client);
        return explained(c.settings.explain, event, emqx4Answer('auth', outcome.result), [trace]);
      }
      const { outcome, trace } = await chain.superuser(req.client);
      return explained(c.settings.explain, event, emqx4Answer('superuser', outcome.is_superuser ? 'allow' : 'deny'), [trace]);
    });
}

export const handler = createEmqx4AuthHandler(defaultContainer());

import middy from '@middy/core';
import { defaultContainer, type Container } from '../shared/container.js';
import { parseAuthnRequest } from '../shared/http/input.js';
import { brokerAuth, httpErrors, httpInput, inputOf, json, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import type { AuthnRequest } from '../shared/types.js';
import { explained } from '../shared/http/explain.js';

/** `GET|POST /mqtt/auth`: EMQX 5 HTTP authentication (with the client's rules when CONNECT_ACL is on). */
export function createAuthHandler(c: Container) {
  return middy<InputEvent<AuthnRequest>, HttpResult>()
    .use(httpErrors({ log: c.log, failure: c.settings.authnBackendFailure, route: 'auth' }))
    .use(brokerAuth(c, 'auth'))
    .use(httpInput(parseAuthnRequest))
    .handler(async (event) => {
      const req = inputOf(event);
      const { outcome, trace } = await (await c.chain()).authenticate(req, { connectAcl: true });
      const { reason: _reason, ...answer } = outcome;
      return explained(c.settings.explain, event, json(200, answer), [trace]);
    });
}

export const handler = createAuthHandler(defaultContainer());

import middy from '@middy/core';
import { authenticate } from '../shared/authn.js';
import { withConnectAcl, type AuthnAnswer } from '../shared/connectacl.js';
import { defaultContainer, type Container } from '../shared/container.js';
import { parseAuthnRequest } from '../shared/http/input.js';
import { brokerAuth, httpErrors, httpInput, inputOf, json, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import type { AuthnRequest } from '../shared/types.js';

/** `GET|POST /mqtt/auth`: EMQX 5 HTTP authentication (with the client's rules when CONNECT_ACL is on). */
export function createAuthHandler(c: Container) {
  return middy<InputEvent<AuthnRequest>, HttpResult>()
    .use(httpErrors({ log: c.log, failure: c.settings.authnBackendFailure, route: 'auth' }))
    .use(brokerAuth(c, 'auth'))
    .use(httpInput(parseAuthnRequest))
    .handler(async (event) => {
      const req = inputOf(event);
      let outcome: AuthnAnswer = await authenticate(await c.authnDeps(), req);
      const { connectAcl } = c.settings;
      if (connectAcl.enabled) outcome = await withConnectAcl(await c.authzDeps(), { ttlS: connectAcl.ttlS, authnFailure: c.settings.authnBackendFailure }, req, outcome);
      const { reason, ...answer } = outcome;
      c.log.debug({ route: 'auth', clientid: req.clientid, result: answer.result, reason }, 'decision');
      return json(200, answer);
    });
}

export const handler = createAuthHandler(defaultContainer());

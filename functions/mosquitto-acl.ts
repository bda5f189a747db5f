import middy from '@middy/core';
import { mosquittoAcl } from '../shared/brokers.js';
import { defaultContainer, type Container } from '../shared/container.js';
import { brokerAuth, httpInput, inputOf, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import { mosquittoAnswer, mosquittoErrors, parseMosquittoAcl, type MosquittoAclRequest } from '../shared/http/mosquitto.js';
import { explained } from '../shared/http/explain.js';

/** `GET|POST /mosquitto/acl`: mosquitto-go-auth HTTP backend ACL check. */
export function createMosquittoAclHandler(c: Container) {
  const mode = c.settings.mosquittoResponseMode;
  return middy<InputEvent<MosquittoAclRequest>, HttpResult>()
    .use(mosquittoErrors({ log: c.log, route: 'mosquitto-acl', mode }))
    .use(brokerAuth(c, 'mosquitto-acl'))
    .use(httpInput(parseMosquittoAcl))
    .handler(async (event) => {
      const req = inputOf(event);
      const verdict = await mosquittoAcl(await c.chain(), req.client, req.topic, req.acc);
      c.log.debug({ route: 'mosquitto/acl', granted: verdict.answer, reason: verdict.reason }, 'answer');
      return explained(c.settings.explain, event, mosquittoAnswer(mode, verdict.answer, verdict.reason), verdict.traces);
    });
}

export const handler = createMosquittoAclHandler(defaultContainer());

import middy from '@middy/core';
import { mosquittoUser, superuserOf } from '../shared/brokers.js';
import { defaultContainer, type Container } from '../shared/container.js';
import { brokerAuth, httpInput, inputOf, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import { mosquittoAnswer, mosquittoErrors, parseMosquittoAuth, type MosquittoAuthRequest } from '../shared/http/mosquitto.js';
import { explained } from '../shared/http/explain.js';

/** `GET|POST /mosquitto/user` and `/mosquitto/superuser`: mosquitto-go-auth HTTP backend. */
export function createMosquittoAuthHandler(c: Container) {
  const mode = c.settings.mosquittoResponseMode;
  return middy<InputEvent<MosquittoAuthRequest>, HttpResult>()
    .use(mosquittoErrors({ log: c.log, route: 'mosquitto-auth', mode }))
    .use(brokerAuth(c, 'mosquitto-auth'))
    .use(httpInput(parseMosquittoAuth))
    .handler(async (event) => {
      const req = inputOf(event);
      const chain = await c.chain();
      const verdict = req.kind === 'user' ? await mosquittoUser(chain, req.client) : await superuserOf(chain, req.client);
      c.log.debug({ route: `mosquitto/${req.kind}`, granted: verdict.answer, reason: verdict.reason }, 'answer');
      return explained(c.settings.explain, event, mosquittoAnswer(mode, verdict.answer, verdict.reason), verdict.traces);
    });
}

export const handler = createMosquittoAuthHandler(defaultContainer());

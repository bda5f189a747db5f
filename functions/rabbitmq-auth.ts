import middy from '@middy/core';
import { rabbitUser, type Verdict } from '../shared/brokers.js';
import { defaultContainer, type Container } from '../shared/container.js';
import { brokerAuth, httpInput, inputOf, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import { parseRabbitAuth, rabbitAnswer, rabbitErrors, type RabbitAnswer, type RabbitAuthRequest } from '../shared/http/rabbitmq.js';
import { explained } from '../shared/http/explain.js';

/** `GET|POST /rabbitmq/user` and `/rabbitmq/vhost`: RabbitMQ HTTP authentication backend. */
export function createRabbitmqAuthHandler(c: Container) {
  return middy<InputEvent<RabbitAuthRequest>, HttpResult>()
    .use(rabbitErrors({ log: c.log, route: 'rabbitmq-auth' }))
    .use(brokerAuth(c, 'rabbitmq-auth'))
    .use(httpInput(parseRabbitAuth))
    .handler(async (event) => {
      const req = inputOf(event);
      // vhost: RabbitMQ asks only after the user check succeeded; MQTT clients use the configured vhost.
      const verdict: Verdict<RabbitAnswer> = req.kind === 'user' ? await rabbitUser(await c.chain(), req.client) : { answer: 'allow', reason: 'vhost access for an authenticated user' };
      c.log.debug({ route: `rabbitmq/${req.kind}`, answer: verdict.answer, reason: verdict.reason }, 'answer');
      return explained(c.settings.explain, event, rabbitAnswer(verdict.answer), verdict.traces);
    });
}

export const handler = createRabbitmqAuthHandler(defaultContainer());

import middy from '@middy/core';
import { rabbitResource, rabbitTopic } from '../shared/brokers.js';
import { defaultContainer, type Container } from '../shared/container.js';
import { brokerAuth, httpInput, inputOf, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import { parseRabbitAcl, rabbitAnswer, rabbitErrors, type RabbitAclRequest } from '../shared/http/rabbitmq.js';
import { explained } from '../shared/http/explain.js';

/** `GET|POST /rabbitmq/resource` and `/rabbitmq/topic`: RabbitMQ HTTP authorization backend. */
export function createRabbitmqAclHandler(c: Container) {
  return middy<InputEvent<RabbitAclRequest>, HttpResult>()
    .use(rabbitErrors({ log: c.log, route: 'rabbitmq-acl' }))
    .use(brokerAuth(c, 'rabbitmq-acl'))
    .use(httpInput(parseRabbitAcl))
    .handler(async (event) => {
      const req = inputOf(event);
      const verdict = req.kind === 'resource' ? rabbitResource(req) : await rabbitTopic(await c.chain(), req);
      c.log.debug({ route: `rabbitmq/${req.kind}`, answer: verdict.answer, reason: verdict.reason }, 'answer');
      return explained(c.settings.explain, event, rabbitAnswer(verdict.answer), verdict.traces);
    });
}

export const handler = createRabbitmqAclHandler(defaultContainer());

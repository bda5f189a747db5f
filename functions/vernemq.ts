import middy from '@middy/core';
import { vernePublish, verneRegister, verneSubscribe } from '../shared/brokers.js';
import { defaultContainer, type Container } from '../shared/container.js';
import { brokerAuth, httpInput, inputOf, type HttpResult, type InputEvent } from '../shared/http/middleware.js';
import { parseVerne, verneAnswer, verneErrors, type VerneRequest } from '../shared/http/vernemq.js';
import { explained } from '../shared/http/explain.js';

/** `POST /vernemq`: VerneMQ webhooks auth_on_register, auth_on_subscribe, auth_on_publish (and _m5). */
export function createVernemqHandler(c: Container) {
  return middy<InputEvent<VerneRequest>, HttpResult>()
    .use(verneErrors({ log: c.log, route: 'vernemq' }))
    .use(brokerAuth(c, 'vernemq'))
    .use(httpInput(parseVerne))
    .handler(async (event) => {
      const req = inputOf(event);
      // Refused before any source is asked: the filters' count must not multiply backend calls.
      if (req.hook === 'auth_on_subscribe' && req.topics.length > c.settings.vernemqMaxFilters) {
        c.log.warn({ route: 'vernemq', hook: req.hook, clientid: req.client.clientid, filters: req.topics.length, max: c.settings.vernemqMaxFilters }, 'subscribe refused: too many topic filters');
        return verneAnswer({ error: 'too_many_filters' });
      }
      const chain = await c.chain();
      const verdict =
        req.hook === 'auth_on_register'
          ? await verneRegister(chain, req.client)
          : req.hook === 'auth_on_subscribe'
            ? await verneSubscribe(chain, req.client, req.topics, req.v5)
            : await vernePublish(chain, { ...req.client, topic: req.topic, action: 'publish', ...(req.qos === undefined ? {} : { qos: req.qos }), ...(req.retain === undefined ? {} : { retain: req.retain }) });
      c.log.debug({ route: 'vernemq', hook: req.hook, clientid: req.client.clientid, reason: verdict.reason }, 'answer');
      return explained(c.settings.explain, event, verneAnswer(verdict.answer), verdict.traces);
    });
}

export const handler = createVernemqHandler(defaultContainer());

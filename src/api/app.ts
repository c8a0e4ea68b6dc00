import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { bearerAuth } from './auth';
import { unstorable, validatorCompiler } from './validation';
import { DEFAULT_LIMITS, type AppDeps } from './deps';
import { ApiError, badRequest, errorHandler } from './errors';
import { metricsPlugin } from './metrics';
import { requestLoggerOptions } from './request-log';
import { healthRoutes } from './routes/health';
import { hookRoutes } from './routes/hooks';
import { workflowRoutes } from './routes/workflows';
import { executionRoutes } from './routes/executions';
import { scheduleRoutes } from './routes/schedules';
import { executionEventRoutes } from './routes/execution-events';
import { mapItemRoutes } from './routes/map-items';
import { uiRoutes } from './routes/ui';
import { limitRoutes } from './routes/limits';
import { secretRoutes } from './routes/secrets';
import { codecRoutes } from './routes/codec';
import { databaseTenantLookup, PROCESS_PAYLOAD_TENANTS } from '../crypto/payload-tenants';
import { executionAdmissionFor } from '../services/executions';
import { nameServerSpan } from '../observability/http-span-target';

/** The Fastify app as a factory of plugins: public routes at the root, the rest behind the API key. */
export async function buildApp(given: AppDeps): Promise<FastifyInstance> {
  // The bound on runs in progress (TRELLIS_MAX_RUNNING_PER_TENANT unless the caller gives one).
  const deps: AppDeps = { ...given, executionAdmission: given.executionAdmission ?? executionAdmissionFor(given.db) };
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const app = Fastify({
    // Webhook tokens and credential query parameters are redacted from every logged URL.
    logger: requestLoggerOptions(deps.logger ?? false),
    bodyLimit: limits.bodyLimit,
    genReqId: () => crypto.randomUUID(),
    requestIdHeader: 'x-request-id',
    // Behind a load balancer request.ip is the client only when the proxies are trusted (TRELLIS_TRUST_PROXY).
    trustProxy: trustProxyOption(deps.trustProxy),
    // Bad percent-encoding and over-long path parameters are rejected by the router before any
    // route runs; answer them in the API's error shape too.
    frameworkErrors: (error, request, reply) => {
      errorHandler(error, request, reply);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler());

  app.setErrorHandler(errorHandler);
  // Postgres cannot store U+0000 or unpaired UTF-16 surrogates (text or jsonb): refuse them up front as bad input.
  // The hooks every request passes are callback style: the Temporal client uses AsyncLocalStorage,
  // which on Node 20 makes every promise the process creates a trip through async_hooks.
  // With tracing on, a request's span is named by its route (`POST /executions`), never its URL.
  app.addHook('onRequest', (request, _reply, done) => {
    nameServerSpan(request.method, request.routeOptions.url);
    done();
  });
  app.addHook('preValidation', (request, _reply, done) => {
    const problem = unstorable(request.body, '/body') ?? unstorable(request.params, '/params') ?? unstorable(request.query, '/querystring');
    // The message names a long path by its start; the detail carries all of it.
    const shown = problem && problem.path.length > 80 ? `${problem.path.slice(0, 80)}…` : problem?.path;
    done(problem && badRequest(`${shown} ${problem.message}`, [problem]));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: { code: 'NOT_FOUND', message: `route ${request.method} ${request.url.split('?')[0]} not found` } }),
  );
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // No response is to be content-sniffed into something executable (JSON shown as HTML).
    reply.header('x-content-type-options', 'nosniff');
    done(null, payload);
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Trellis API',
        version: '1',
        description: 'Durable DAG workflows on Temporal (DESIGN.md §3). Errors are `{ error: { code, message, details? } }`.',
        license: { name: 'UNLICENSED (see package.json)' },
      },
      // Relative: the document is served by the API it describes, wherever that is.
      servers: [{ url: '/', description: 'the server that serves this document' }],
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  // The plugin throws what this returns; an ApiError reaches the error handler with its message intact.
  const tooMany = (_request: unknown, context: { max: number; after: string }) =>
    new ApiError(429, 'RATE_LIMITED', `rate limit of ${context.max} requests per ${context.after} exceeded`);
  // Before authentication, per client address: bounds floods and key guessing whatever the header
  // says. A root hook, so it runs before the authenticated scope's own onRequest (auth) hook.
  // With TRELLIS_REDIS_URL the buckets live in Redis, shared by every API replica (a key gets its
  // limit once, not once per replica); without it, in this process's memory. A Redis outage lets
  // requests through (skipOnError) rather than failing the API.
  const shared = deps.rateLimitRedis ? { redis: deps.rateLimitRedis, nameSpace: 'trellis-rl:', skipOnError: true } : {};
  await app.register(rateLimit, { global: false, ...shared });
  app.addHook(
    'onRequest',
    app.rateLimit({ max: limits.addressRateLimitPerMinute, timeWindow: '1 minute', keyGenerator: (request) => `ip:${request.ip}`, errorResponseBuilder: tooMany }),
  );

  await app.register(metricsPlugin, { db: deps.db, ...(deps.metricsToken && { token: deps.metricsToken }) });
  await app.register(healthRoutes, { deps });
  await app.register(hookRoutes, { deps, limits });
  await app.register(uiRoutes, { ...deps.console }); // the web console; public: its API calls carry the key
  // The payload codec seals each run's payloads for its tenant, looked up here on a cache miss.
  const releaseTenantLookup = PROCESS_PAYLOAD_TENANTS.useLookup(databaseTenantLookup(deps.db));
  app.addHook('onClose', (_app, done) => {
    releaseTenantLookup();
    done();
  });
  await app.register(codecRoutes, { deps }); // its own auth: API key as Bearer or the UI's cookie
  await app.register(async (authenticated) => {
    await authenticated.register(bearerAuth, { db: deps.db, cacheMs: limits.apiKeyCacheMs, ...(deps.events && { revocations: deps.events }) });
    // After authentication, per API key (its id, so "bearer K" and "Bearer  K" share one bucket),
    // with separate buckets for reads and writes so polling runs never starves starting them.
    // A second registration: each keeps its own "already counted" mark on the request.
    await authenticated.register(rateLimit, {
      ...shared,
      hook: 'preHandler',
      max: (request) => request.principal?.rateLimitPerMinute ?? limits.rateLimitPerMinute,
      timeWindow: '1 minute',
      keyGenerator: (request) => `key:${request.principal.keyId}:${request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write'}`,
      errorResponseBuilder: tooMany,
    });
    await authenticated.register(workflowRoutes, { deps, limits });
    await authenticated.register(executionRoutes, { deps, limits });
    await authenticated.register(scheduleRoutes, { deps, limits });
    await authenticated.register(executionEventRoutes, { deps });
    await authenticated.register(secretRoutes, { deps });
    await authenticated.register(mapItemRoutes, { deps, limits });
    await authenticated.register(limitRoutes, { deps });
  });
  return app;
}

/**
 * Fastify's trustProxy: a boolean, or the proxies' addresses/CIDRs (proxy-addr). A hop count is
 * what proxy-addr does with a number (trust the nearest `hops` addresses), as a function: the
 * option's types leave numbers out.
 */
function trustProxyOption(trust: AppDeps['trustProxy']): boolean | string[] | ((address: string, hop: number) => boolean) {
  if (trust === undefined) return false;
  if (typeof trust === 'number') return (_address, hop) => hop < trust;
  return typeof trust === 'object' ? [...trust] : trust;
}

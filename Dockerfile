# syntax=docker/dockerfile:1
# One image for both Trellis processes: `trellis api` (the default) and `trellis worker`.
#   docker build -t trellis .
#   docker run trellis api      |  docker run trellis worker      |  docker run trellis migrate
# Configuration is the environment of DESIGN.md §4: DATABASE_URL, TEMPORAL_ADDRESS,
# TEMPORAL_NAMESPACE, TRELLIS_TASK_QUEUE, HOST, PORT (see docker-compose.yml).

# ---- build: install everything, compile TypeScript, prebuild the workflow bundle -------------
FROM node:24-bookworm-slim AS build
WORKDIR /app
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

# The lockfile and the Prisma schema first: `npm ci` runs postinstall (`prisma generate`, which
# writes src/generated/prisma), and this layer is cached until the dependencies change.
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
# `npm ci` alone should do. The registry this project is developed against lacks @swc/core's
# binaries for other platforms, so its lockfile can look out of sync to `npm ci`; then
# `npm install` resolves the same locked versions (exactly what .ci/run does).
RUN npm ci || npm install

COPY tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY ui ./ui
# tsc -> dist/ (dist/cli/trellis.js is what bin/trellis.js loads when it exists), then the
# workflow bundle, so workers start without webpack.
RUN npm run build && npm run build:workflows && npm run build:ui
# Dev dependencies (tsx, prisma CLI, typescript, vitest, ...) are not needed at run time: with
# dist/ present bin/trellis.js never falls back to tsx, and migrations are applied by Trellis's
# own migrator over pg.
RUN npm prune --omit=dev

# ---- runtime -------------------------------------------------------------------------------
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    TRELLIS_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js \
    HOST=0.0.0.0 \
    PORT=3000

# Owned by root and read-only to the process; it writes nothing under /app.
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/bin ./bin
# The migrator reads prisma/migrations relative to dist/db/.
COPY --from=build /app/prisma ./prisma
COPY examples ./examples

# The official image's unprivileged user (uid 1000).
USER node
EXPOSE 3000

# Liveness of the API (slim images have no curl). The worker serves no HTTP: docker-compose.yml
# disables this check for it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

ENTRYPOINT ["node", "bin/trellis.js"]
CMD ["api"]

# One image for every app; docker-compose.yml picks the app with APP.
# Node 22 is the current LTS line this project supports (package.json engines: >=20.19).
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci applies patches/ (patch-package) to the installed dependencies: see README, "Libraries".
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY apps ./apps
COPY libs ./libs
COPY migrations ./migrations
COPY scripts ./scripts
RUN npm run build && npm prune --omit=dev

FROM node:22-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# APP is command-api, projection-worker or query-api; "migrate" runs the migrations and exits;
# "connect-register" registers Debezium's capture connector and exits once it runs (OUTBOX_RELAY=debezium).
# The replay command runs in any of these images: node dist/apps/admin-cli/src/main.js <projection>|--all
ENV APP=command-api
CMD ["sh", "-c", "case \"$APP\" in migrate) exec node dist/scripts/migrate.js ;; connect-register) exec node dist/scripts/connect-register.js --topic \"${ORDERS_TOPIC:-orders.events}\" ;; *) exec node --enable-source-maps dist/apps/$APP/src/main.js ;; esac"]

# duo-diag-proxy container image.
#   docker build -t duo-diag-proxy .
#   docker run --rm -p 5053:5053 -p 5099:5099 -v ddp-data:/data \
#     -e DUO_DIAG_ADMIN__TOKEN=change-me duo-diag-proxy start --upstream http://aigw:5052
# Ports: 5053 gateway route, 5054 model route (when configured), 5099 admin API.
# The admin API listens on 0.0.0.0 inside the container, so a token is required
# (DUO_DIAG_ADMIN__TOKEN); start-up refuses to run without one.

FROM node:24-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# npm ci runs `prepare`, which builds dist/.
RUN npm ci --no-audit --no-fund && npm prune --omit=dev

FROM node:24-bookworm-slim
# The container's defaults come from a config file (the lowest precedence), so a mounted
# config, DUO_DIAG_* variables and flags all still override them.
# NODE_OPTIONS: the proxy's young generation size (see the first lines of src/cli/main.ts).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=8 \
    DUO_DIAG_CONFIG=/app/config/container.yaml
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
RUN mkdir -p /data && chown 1000:1000 /data
# Numeric, so Kubernetes' runAsNonRoot can verify it (the image's `node` user is 1000).
USER 1000:1000
VOLUME ["/data"]
EXPOSE 5053 5054 5099
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:5099/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["start"]

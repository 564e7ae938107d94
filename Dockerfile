# syntax=docker/dockerfile:1
# One image for `sluice serve`, `sluice webhook` and the CLI (docs/install.md).
#
#   docker build -t ghcr.io/sluice-mesh/sluice:0.1.0 .          (or: buildah bud / podman build)
#
# The runtime is distroless Node.js 20: no shell, no package manager, runs as
# uid 65532. The base images are build arguments so a registry mirror, or the
# local bases test/install/image-smoke.sh builds without any registry, can
# stand in. A CI variant with a shell (for Jenkins `container` steps):
#   docker build --build-arg RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:debug-nonroot -t …/sluice:0.1.0-debug .
ARG BUILD_IMAGE=docker.io/library/node:20-bookworm-slim
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs20-debian12:nonroot

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
# Dependencies first: this layer is reused until package-lock.json changes.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY control-plane control-plane
COPY webhook webhook
RUN npm run build && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 # Nothing that runs: source maps, type declarations, TypeScript sources, docs (about half of node_modules).
 && find node_modules dist \( -name '*.map' -o -name '*.ts' -o -name '*.md' -o -name '*.markdown' \) -type f -delete \
 # `sluice` on PATH for shells in the debug variant; node runs it, so no /usr/bin/env is needed.
 && printf '#!/nodejs/bin/node\nimport "/app/dist/control-plane/cli/main.js";\n' > /src/sluice && chmod 755 /src/sluice

FROM ${RUNTIME_IMAGE}
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/sluice /usr/local/bin/sluice
USER 65532:65532
# xDS, admin, webhook
EXPOSE 15010 15014 9443
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/control-plane/cli/main.js"]
CMD ["--help"]

# Triage gateway image (docs/deploy.md). Two stages on Debian 12:
#   build    installs the build dependencies through scripts/setup.sh (the same list `make`
#            uses), builds the binary and trains the shipped models from data/;
#   runtime  the binary, its shared libraries, the shipped models and examples, run as an
#            unprivileged user with a health check on /healthz.
# Build:  docker build -t triage .
# Run:    docker run -p 8080:8080 -v $PWD/triage.yaml:/etc/triage/triage.yaml:ro \
#           -e TRIAGE_ADMIN_TOKEN=... triage
FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/setup.sh scripts/setup.sh
RUN scripts/setup.sh build && rm -rf /var/lib/apt/lists/*
COPY . .
RUN rm -rf build && make models JOBS="$(nproc)"

FROM debian:12-slim AS runtime
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      ca-certificates curl libboost-json1.81.0 libboost-url1.81.0 libcsv3 libfasttext0 libfmt9 libhiredis0.14 \
      libmimalloc2.0 libpq5 libprometheus-cpp-core1.0 libre2-9 librsvg2-2 libspdlog1.10 libsqlite3-0 \
      libssl3 libyaml-cpp0.7 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/triage --create-home triage
COPY --from=build /src/build/bin/triage /usr/local/bin/triage
COPY --from=build /src/models /usr/share/triage/models
COPY --from=build /src/data /usr/share/triage/data
COPY --from=build /src/examples /usr/share/triage/examples
COPY deploy/triage.yaml /etc/triage/triage.yaml
USER 10001:10001
WORKDIR /var/lib/triage
EXPOSE 8080
# /healthz answers while the process serves; /readyz turns 503 during a drain (SIGTERM).
HEALTHCHECK --interval=10s --timeout=2s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/triage"]
CMD ["serve", "-c", "/etc/triage/triage.yaml"]

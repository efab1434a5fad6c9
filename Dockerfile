# syntax=docker/dockerfile:1
# Build: official Swift image; run: slim Debian with only libcurl, SQLite, CA certificates and the binary.

FROM swift:6.3-bookworm AS build
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4-openssl-dev libsqlite3-dev \
 && rm -rf /var/lib/apt/lists/*
COPY Package.swift ./
COPY Sources ./Sources
COPY openapi ./openapi
COPY Benchmarks ./Benchmarks
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product talking-photo-bridge \
 && cp "$(swift build -c release --show-bin-path)/talking-photo-bridge" /talking-photo-bridge \
 && strip /talking-photo-bridge

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 libsqlite3-0 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin bridge \
 && mkdir -p /data && chown bridge /data
COPY --from=build /talking-photo-bridge /usr/local/bin/talking-photo-bridge
USER 10001
WORKDIR /data
VOLUME ["/data"]
# Two malloc arenas, set before the first allocation (serve asks for the same with mallopt when
# this is unset, a little later): ~4 MB less peak RSS under a delivery burst (BENCHMARKS.md).
ENV BRIDGE_LISTEN=0.0.0.0:8080 \
    BRIDGE_DATABASE=/data/bridge.sqlite \
    BRIDGE_LOG_FORMAT=json \
    MALLOC_ARENA_MAX=2
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["/usr/local/bin/talking-photo-bridge", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/talking-photo-bridge"]
CMD ["serve"]

# syntax=docker/dockerfile:1
# Two stages: build a static binary, then run it as a non-root user in a
# distroless image (no shell, no package manager).
#   docker build -t baton .
#   docker run -p 8080:8080 -e BATON_REDIS_URL=redis://host:6379/0 baton
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# CGO off: a static binary that needs no libc. Timezone data is compiled in
# (time/tzdata), so directory timezones and scheduled starts work here too.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/baton .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/baton /baton
# Numeric, so Kubernetes' runAsNonRoot can verify it (65532 is "nonroot").
USER 65532:65532
EXPOSE 8080
ENV BATON_HTTP_ADDR=:8080 BATON_LOG_FORMAT=json
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/baton", "healthcheck"]
ENTRYPOINT ["/baton"]

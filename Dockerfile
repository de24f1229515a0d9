# Two stages: build a static binary, then run it as a non-root user in a
# distroless image (no shell, no package manager).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/baton .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/baton /baton
USER nonroot:nonroot
EXPOSE 8080
ENV BATON_HTTP_ADDR=:8080 BATON_LOG_FORMAT=json
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["/baton", "healthcheck"]
ENTRYPOINT ["/baton"]

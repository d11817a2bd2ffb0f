# The bot's container image: a static Go binary on distroless (no shell, no
# package manager), running as the unprivileged nonroot user (uid 65532).
#
#   docker build -t mfabot .
#   docker run -p 3978:3978 -e MicrosoftAppId=… -e MicrosoftAppPassword=… \
#     -e MicrosoftAppTenantId=… -e REDIS_URL=rediss://… mfabot
#
# Endpoints on PORT (default 3978):
#   POST /api/messages  the Bot Framework endpoint (Azure Bot messaging endpoint:
#                       https://<BOT_DOMAIN>/api/messages)
#   GET  /healthz       liveness: 200 while the process runs
#   GET  /readyz        readiness: 200 once Redis answers and the Bot Framework
#                       signing keys are loaded, 503 otherwise
# The image has no shell or curl, so it declares no HEALTHCHECK: point the
# platform's probes at them (App Service health check path /readyz;
# Kubernetes livenessProbe /healthz, readinessProbe /readyz).
#
# Without MicrosoftAppId the bot runs in local mode and listens on 127.0.0.1
# only, which is unreachable from outside the container: give the container
# its Azure configuration (see README.md, Configuration).
#
# The build command below is also in scripts/build.sh; build_test.go checks
# that the two stay identical and that the result is statically linked.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/mfabot .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/mfabot /mfabot
USER nonroot:nonroot
EXPOSE 3978
ENTRYPOINT ["/mfabot"]

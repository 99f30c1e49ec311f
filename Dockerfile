# Tollgate container image: a release build, then a minimal non-root runtime
# holding only the binary, CA certificates (in the base image), the default
# config and the supergraph it references. Configure it with TOLLGATE_CONFIG
# and the ${env.NAME} values of docker/router.yaml; Kubernetes: docs/deploy.md.
# scripts/docker-smoke.sh runs these same steps without Docker (CI runs it).

# The toolchain CI builds and tests with (the locked dependencies need 1.89 or newer).
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p tollgate --bin tollgate

# glibc, libgcc, CA certificates and a nonroot user (uid 65532); no shell.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/tollgate /usr/local/bin/tollgate
COPY docker/router.yaml /etc/tollgate/router.yaml
COPY schemas/supergraph.graphql /etc/tollgate/supergraph.graphql
ENV TOLLGATE_CONFIG=/etc/tollgate/router.yaml
USER nonroot
EXPOSE 4000 9090
ENTRYPOINT ["/usr/local/bin/tollgate"]

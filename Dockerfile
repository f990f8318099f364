# retryd container image for a Docker engine: a multi-stage build to a small
# non-root image. Without one, deploy/image/build makes the same image with
# buildah, from scratch.
#   docker build -t retryd .
# (Not built in CI: no Docker engine runs there. See README.)
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# protox compiles the proto: no protoc in the image.
RUN cargo build --release --locked --bin retryd \
 && strip target/release/retryd

# glibc and libgcc only, no shell, uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/retryd /usr/local/bin/retryd
USER 65532:65532
# gRPC API (pod-local by default), health-only port, Prometheus metrics.
EXPOSE 50051 50052 9464
ENTRYPOINT ["/usr/local/bin/retryd"]

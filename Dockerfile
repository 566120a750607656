# The ztrace agent's image: built in a Debian 12 stage, run from a Debian 12 slim stage with
# only its runtime libraries. scripts/build-image-rootfs.sh builds the same runtime root with
# debootstrap (same package list, same install script), and tests/e2e/image_caps_test.cc runs
# it under runc with the Helm chart's capabilities and mounts: that is the test of this
# recipe (no container engine runs in CI). Keep the two in step: packages go in
# scripts/image-packages.txt, nowhere else.
#
#   docker build -t ztrace:0.1.0 .
#
# The agent runs as uid 0 with only the capabilities the chart adds (every other one dropped):
# Kubernetes gives added capabilities to a non-root user's effective set only through file
# capabilities, which allowPrivilegeEscalation: false would void. The build stage runs as an
# unprivileged user.

FROM debian:bookworm AS build
COPY scripts/install-deps.sh scripts/apt-preferences scripts/image-packages.txt /src/scripts/
RUN ZTRACE_DEPS=build bash /src/scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home builder && mkdir -p /src && chown builder /src
USER builder
COPY --chown=builder . /src
RUN cmake -S /src -B /src/build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DZTRACE_BUILD_TESTS=OFF -DZTRACE_BUILD_FUZZERS=OFF && \
    cmake --build /src/build --target ztrace && \
    strip --strip-debug -o /src/build/ztrace.stripped /src/build/ztrace

FROM debian:bookworm-slim
COPY scripts/install-deps.sh scripts/apt-preferences scripts/image-packages.txt /tmp/ztrace-deps/scripts/
RUN ZTRACE_DEPS=image bash /tmp/ztrace-deps/scripts/install-deps.sh && \
    rm -rf /tmp/ztrace-deps /var/lib/apt/lists/*
COPY --from=build /src/build/ztrace.stripped /usr/local/bin/ztrace
ENTRYPOINT ["/usr/local/bin/ztrace"]
CMD ["run", "--config", "/etc/ztrace/ztrace.yaml", "--no-console"]

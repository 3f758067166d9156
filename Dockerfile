# sungate in a container, for machines without Home Assistant OS (see compose.yaml):
#   docker build -t sungate .
#   docker run --rm -v sungate:/var/lib/sungate -v ./sungate.toml:/etc/sungate/sungate.toml:ro \
#       --device /dev/hidraw0 -p 127.0.0.1:8080:8080 sungate
# The lean binary (no simulator, no embedded broker), as the Debian package ships it.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p sungate --no-default-features --features hid \
    && install -m 0755 target/release/sungate /usr/local/bin/sungate

FROM debian:bookworm-slim
COPY --from=build /usr/local/bin/sungate /usr/bin/sungate
# Its own user, in the groups that own serial ports (dialout) and, with the package's udev
# rule on the host, the inverter's hidraw node (plugdev). `group_add` in compose.yaml can add
# the host's numeric groups when they differ.
RUN groupadd --system sungate \
    && useradd --system --gid sungate --groups dialout,plugdev --home-dir /var/lib/sungate sungate \
    && install -d -o sungate -g sungate -m 0750 /var/lib/sungate /etc/sungate
USER sungate
VOLUME ["/var/lib/sungate"]
EXPOSE 8080
ENV RUST_LOG=info
# The config names the devices and `[http] bind = "0.0.0.0:8080"` to reach the dashboard from
# outside the container; `sungate init --output -` (run on the host) writes one.
ENTRYPOINT ["/usr/bin/sungate"]
CMD ["run", "--config", "/etc/sungate/sungate.toml"]

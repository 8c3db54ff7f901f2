# rktlet with the rkt it is tested with (v1.30.0 and stage1-host, built from
# the Go module proxy with the patches in hack/rkt/patches).
#
#   docker build -t rktlet .
#
# rktlet drives the host's systemd and runs pods on the host, so the
# container needs the host's view of it:
#
#   docker run -d --name rktlet --privileged --pid=host --network=host \
#     -v /run:/run -v /sys/fs/cgroup:/sys/fs/cgroup \
#     -v /var/lib/rktlet:/var/lib/rktlet:rshared \
#     -v /etc/cni/net.d:/etc/cni/net.d:ro -v /opt/cni/bin:/opt/cni/bin:ro \
#     -v /var/log/pods:/var/log/pods rktlet
#
# A package or a plain `make build` and a systemd unit is the usual way on a
# node (README); the image is for hosts whose /usr cannot be changed.

FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
	autoconf automake build-essential cpio gperf libacl1-dev libsystemd-dev \
	pkg-config systemd systemd-container && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN bash hack/build-rkt.sh && make build

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
	ca-certificates containernetworking-plugins iptables libacl1 libsystemd0 \
	systemd systemd-container && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/_output/rkt/bin/rkt /usr/bin/rkt
COPY --from=build /src/_output/rkt/bin/stage1-host.aci /usr/lib/rkt/stage1-images/stage1-host.aci
COPY --from=build /src/_output/bin/rktlet /usr/bin/rktlet
ENTRYPOINT ["/usr/bin/rktlet"]

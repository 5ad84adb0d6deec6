#!/bin/sh
# Run a command inside a fresh, private network namespace.
#
#   usage: sh e2e/netns.sh <command...>
#   e.g.   sh e2e/netns.sh npx playwright test
#
# WebRTC (Chromium and node-datachannel) ignores loopback, and Chromium gathers ICE candidates
# only on the interface that carries the default route. So the end-to-end tests run in a network
# namespace of their own that contains:
#   - lo, up (127.0.0.1: the relay, the static server and the browsers' pages);
#   - a veth pair with BOTH ends inside the namespace: veth0 10.77.0.1/24, veth1 10.77.0.2/24;
#   - a default route via veth0 (gateway 10.77.0.2, the other end of the pair).
# Multicast needs nothing more: mDNS (224.0.0.251, native peers' LAN discovery) follows the
# default route out of veth0, and the kernel loops it back to every socket in the namespace
# that joined the group, so peers here find each other as on a LAN.
# The namespace has no link to any real interface, so no packet can leave the machine: traffic
# for any address outside 10.77.0.0/24 goes out of veth0 into veth1, which does not forward
# (ip_forward is 0 in a new namespace), and is dropped there.
#
# The namespace exists as long as the command runs and disappears with it; nothing is left
# behind on the host. The script exits with the command's exit code. Inside the namespace
# STARLING_NETNS=1 is set; if the script is started with STARLING_NETNS=1 already set (it is
# running inside such a namespace), it just runs the command.
#
# Needs: unshare (util-linux) and ip (iproute2). As root it uses `unshare -n`; otherwise it
# tries an unprivileged user namespace, `unshare -r -n`, and says so.

set -eu

me=netns.sh

die() {
  printf '%s: %s\n' "$me" "$*" >&2
  exit 2
}

if [ "$#" -eq 0 ]; then
  printf 'usage: sh e2e/netns.sh <command...>\n' >&2
  exit 2
fi

# Already inside the namespace: nothing to set up.
if [ "${STARLING_NETNS:-}" = "1" ]; then
  exec "$@"
fi

# ip and unshare often live in /sbin or /usr/sbin, which a non-root PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"
export PATH

SUBNET_A=10.77.0.1
SUBNET_B=10.77.0.2

# Second stage: we are the first process inside the new namespace. Configure it, then replace
# this shell with the command, so its exit code (and signals) are the command's own.
if [ "${STARLING_NETNS_STAGE:-}" = "setup" ]; then
  unset STARLING_NETNS_STAGE
  {
    ip link set lo up &&
    ip link add veth0 type veth peer name veth1 &&
    ip addr add "$SUBNET_A/24" dev veth0 &&
    ip addr add "$SUBNET_B/24" dev veth1 &&
    ip link set veth0 up &&
    ip link set veth1 up &&
    ip route add default via "$SUBNET_B" dev veth0
  } || die "could not configure the network namespace (see the ip error above)"
  STARLING_NETNS=1
  export STARLING_NETNS
  exec "$@"
fi

# First stage: check the tools, create the namespace and run the second stage inside it.
command -v unshare >/dev/null 2>&1 ||
  die "'unshare' not found: install util-linux (Debian: apt-get install -y util-linux)"
command -v ip >/dev/null 2>&1 ||
  die "'ip' not found: install iproute2 (Debian: apt-get install -y iproute2)"

# The second stage runs this same file: find it by an absolute path.
case "$0" in
  /*) self=$0 ;;
  *) self=$(pwd)/$0 ;;
esac
[ -r "$self" ] || die "cannot find this script as '$self'; run it as: sh e2e/netns.sh <command...>"

if [ "$(id -u)" = "0" ]; then
  unshare_flags="-n"
else
  unshare_flags="-r -n"
  printf '%s: not root: trying an unprivileged user + network namespace (unshare -r -n)\n' "$me" >&2
fi

# Probe first, so that a refusal (no CAP_SYS_ADMIN in a container, user namespaces disabled)
# ends with a clear message instead of an error from deep inside the command.
# shellcheck disable=SC2086
if ! probe_err=$(unshare $unshare_flags true 2>&1); then
  die "cannot create a network namespace with 'unshare $unshare_flags': $probe_err
  The end-to-end tests need one (WebRTC ignores loopback). Run as root, or in a container
  started with CAP_SYS_ADMIN (e.g. docker run --cap-add SYS_ADMIN), or enable unprivileged
  user namespaces (sysctl kernel.unprivileged_userns_clone=1)."
fi

STARLING_NETNS_STAGE=setup
export STARLING_NETNS_STAGE
# shellcheck disable=SC2086
exec unshare $unshare_flags -- sh "$self" "$@"

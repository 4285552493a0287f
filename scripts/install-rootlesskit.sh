#!/bin/sh
# Install the real rootlesskit (Debian package) and what it needs to run as
# root, for tests/rootlesskit_real.rs. Idempotent: installs only what is
# missing and adds the root subuid/subgid range only once.
#
# Debian 12 (bookworm) ships rootlesskit 1.1.0-1+b4 (measured 2026 with
# `apt-cache policy rootlesskit`); portsim models rootlesskit e780dd3, which
# is newer. The test prints the version it ran against.
set -eu

if [ "$(id -u)" -ne 0 ]; then
    echo "install-rootlesskit.sh: must run as root" >&2
    exit 1
fi

PKGS="rootlesskit slirp4netns uidmap iproute2"
BINS="rootlesskit slirp4netns newuidmap ip"

missing=""
for b in $BINS; do
    command -v "$b" >/dev/null 2>&1 || missing="$missing $b"
done

if [ -n "$missing" ]; then
    echo "install-rootlesskit.sh: missing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when apt does not know the package yet.
    if ! apt-cache policy rootlesskit 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        apt-get update
    fi
    # shellcheck disable=SC2086
    apt-get install -y --no-install-recommends $PKGS
fi

# rootlesskit maps the root user onto a subordinate range; without one it
# refuses to start. Add the range once, keep whatever is there.
for f in /etc/subuid /etc/subgid; do
    touch "$f"
    if ! grep -q '^root:' "$f"; then
        echo 'root:100000:65536' >>"$f"
    fi
done

echo "install-rootlesskit.sh: $(rootlesskit --version 2>&1 | head -n 1)"
apt-cache policy rootlesskit | sed -n '1,3p'

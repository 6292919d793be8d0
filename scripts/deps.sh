#!/usr/bin/env bash
# Installs what building and testing berth needs on a Debian machine: the registry and
# busybox-static for the test images, iptables, libseccomp for the builtin runtime, runc as the
# second OCI runtime, tmux for terminal tests.
# Also docker-py (from PyPI) for the tests that use it. Safe to run again: it installs only
# what is missing.
set -euo pipefail
PKGS="docker-registry busybox-static iptables ca-certificates libseccomp-dev pkg-config runc tmux"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing" >&2
    # docker-registry's postinst would start a registry on :5000; tests start their own.
    policy_made=0
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        policy_made=1
    fi
    export DEBIAN_FRONTEND=noninteractive
    rc=0
    { apt-get update -q && apt-get install -y -q --no-install-recommends $missing; } || rc=$?
    [ "$policy_made" = 1 ] && rm -f /usr/sbin/policy-rc.d
    [ "$rc" = 0 ] || exit "$rc"
fi

# docker-py, for the tests that drive berthd with it.
if ! python3 -c 'import docker' 2>/dev/null; then
    echo "installing: docker (python)" >&2
    python3 -m pip install -q --disable-pip-version-check docker
fi

#!/usr/bin/env bash
# Install the services the tests run for real: Orthanc with its DICOMweb plugin (Debian packages).
#
# Idempotent and quick when done: nothing happens if Orthanc and the plugin are already there.
# Otherwise (root on Debian, as in CI) `apt-get install` runs once, with services kept from
# starting: the tests start their own Orthanc per session on 127.0.0.1 with a temporary config,
# so the package's system service (port 8042/4242, /var/lib/orthanc) must not run.
set -euo pipefail

plugin=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
orthanc="$(PATH="$PATH:/usr/sbin" command -v Orthanc || true)"
if [ -n "$orthanc" ] && [ -e "$plugin" ]; then
  echo "[services] Orthanc and its DICOMweb plugin are installed ($orthanc)"
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null; then
  echo "[services] Orthanc missing: install the Debian packages orthanc and orthanc-dicomweb" >&2
  echo "[services] (as root: apt-get install --no-install-recommends orthanc orthanc-dicomweb)" >&2
  exit 1
fi

# The package's postinst starts its service through invoke-rc.d, which asks policy-rc.d first;
# exit code 101 there means "do not start services". Docker images ship such a file; add one for
# the install if this machine has none, and take it away again afterwards.
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# written by MedUE scripts/services.sh during apt-get install\nexit 101\n' \
    > "$policy"
  chmod +x "$policy"
  trap 'rm -f "$policy"' EXIT
fi

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show orthanc-dicomweb > /dev/null 2>&1; then
  echo "[services] apt-get update (package lists missing)"
  apt-get update -qq
fi
echo "[services] installing orthanc and orthanc-dicomweb (Debian packages)"
install() { apt-get install -y -qq --no-install-recommends orthanc orthanc-dicomweb > /dev/null; }
if ! install; then  # stale package lists name files the mirror no longer has
  echo "[services] apt-get update, then installing again"
  apt-get update -qq
  install
fi

# If a service was started anyway (a machine whose policy allows it), stop it: our tests run
# their own instance, and a stray one would hold the default ports.
if [ -x /etc/init.d/orthanc ] && /etc/init.d/orthanc status > /dev/null 2>&1; then
  echo "[services] stopping the orthanc system service the package started"
  /etc/init.d/orthanc stop > /dev/null || true
fi
if [ -d /run/systemd/system ] && command -v systemctl > /dev/null; then
  systemctl disable --now orthanc.service > /dev/null 2>&1 || true
fi

[ -e "$plugin" ] || { echo "[services] $plugin missing after the install" >&2; exit 1; }
echo "[services] installed $(PATH="$PATH:/usr/sbin" Orthanc --version | head -1)"

#!/bin/sh
# After installing or upgrading jfguard: the system user it runs as, and systemd
# told about the unit. Creates no secret and does not start the service: it needs
# settings and credentials first (docs/operations.md, "Install").
set -e

if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers jfguard.conf
elif ! getent passwd jfguard >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/jfguard --no-create-home \
    --shell /usr/sbin/nologin jfguard
fi

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  # An upgrade restarts a running service on the new binary.
  if [ -n "$2" ] && systemctl is-active --quiet jfguard.service; then
    systemctl restart jfguard.service || true
  fi
fi

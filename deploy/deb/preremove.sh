#!/bin/sh
# Before removing jfguard (not before an upgrade): stop and disable the service.
set -e

if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop jfguard.service || true
  systemctl disable jfguard.service || true
fi

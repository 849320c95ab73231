#!/bin/sh
# Before removing jfguard (not before an upgrade): stop and disable the service
# and the backup timer.
set -e

if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop jfguard-backup.timer jfguard.service || true
  systemctl disable jfguard-backup.timer jfguard.service || true
fi

#!/bin/sh
# After removing jfguard. The data directory (/var/lib/jfguard: the event store and
# the audit log) and the credentials are kept, even on purge: delete them yourself
# once you no longer need the audit log.
set -e

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi

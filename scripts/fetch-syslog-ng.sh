#!/bin/sh
# Unpacks Debian's syslog-ng into a private prefix (default .cache/syslog-ng) for the tests that
# prove logforward against a second real server. It is not installed: the syslog-ng-core package
# conflicts with rsyslog. The libraries listed are the ones a Debian 12 system with rsyslog lacks.
# Idempotent; needs apt's package lists (apt-get update).
set -eu
DEST=${1:-"$(cd "$(dirname "$0")/.." && pwd)/.cache/syslog-ng"}
if [ -x "$DEST/usr/sbin/syslog-ng" ]; then exit 0; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"
if id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi # apt downloads as user _apt where it can
cd "$tmp"
apt-get download syslog-ng-core libivykis0 libnet1 libpcre3 libwrap0
mkdir -p "$DEST"
for deb in ./*.deb; do dpkg-deb -x "$deb" "$DEST"; done
echo "syslog-ng unpacked into $DEST"

#!/bin/sh
# Best effort, never fails: install Debian's PostgreSQL server for the shared-study sweep test
# (tests/test_sweep.py starts a throw-away server on 127.0.0.1 with initdb/pg_ctl and stops it).
# Only as root with apt-get; the Python driver is a pip dev dependency (psycopg2-binary).
# Without a server the PostgreSQL test skips and says why.
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "PostgreSQL not found: the shared-study sweep test will skip (apt-get install postgresql as root)"
    exit 0
fi
echo "installing postgresql from Debian's packages for the shared-study sweep test..."
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1 \
    || echo "could not install postgresql: the shared-study sweep test will skip"
exit 0

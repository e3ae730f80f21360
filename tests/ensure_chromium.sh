#!/bin/sh
# Best effort, never fails: install Debian's chromium for the browser tests (tests/test_browser.py).
# Only as root on a CI-like machine (CI set, or GANKIT_INSTALL_CHROMIUM=1), from Debian's packages:
# no browser is ever downloaded at run time. Without chromium the browser tests skip and say why.
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then exit 0; fi
if [ -z "${CI:-}" ] && [ "${GANKIT_INSTALL_CHROMIUM:-}" != 1 ]; then
    echo "chromium not found: browser tests will skip (GANKIT_INSTALL_CHROMIUM=1 make test installs it)"
    exit 0
fi
echo "installing chromium from Debian's packages for the browser tests..."
(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "could not install chromium: browser tests will skip"
exit 0

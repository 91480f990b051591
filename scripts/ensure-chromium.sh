#!/usr/bin/env bash
# Runs before the tests (npm's pretest): the web page's end-to-end test drives Debian's Chromium
# through playwright-core (no browser download). Installs it when missing and running as root;
# otherwise says in one line what to install.
set -euo pipefail
[[ -x /usr/bin/chromium ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the web page's end-to-end test" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "the tests need /usr/bin/chromium: install Debian's chromium package (apt-get install -y chromium)" >&2
exit 1

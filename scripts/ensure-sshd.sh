#!/usr/bin/env bash
# Runs before the tests (npm's pretest): the SFTP tests start their own OpenSSH server from
# Debian's openssh-server package (scripts/support/sshd.ts). Installs it when missing and running as
# root; otherwise says in one line what to install. The system's own sshd service is left alone.
set -euo pipefail
[[ -x /usr/sbin/sshd ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's openssh-server for the SFTP tests" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server >/dev/null
  exit 0
fi
echo "the tests need /usr/sbin/sshd: install Debian's openssh-server package (apt-get install -y openssh-server)" >&2
exit 1

#!/usr/bin/env bash
# System packages some tests drive for real: rsyslog (+gnutls) as a syslog forwarder, nats-server for
# multi-site forwarding, nftables for executor tests in a network namespace, tmux for the console smoke test,
# util-linux `logger`, headless chromium for the browser console test (`vigil web`); with `bench`, fail2ban. Installed with apt-get
# when missing and we are root (CI); otherwise the tests that need them skip and say why.
set -u
need=()
command -v rsyslogd >/dev/null 2>&1 || need+=(rsyslog)
[ -e /usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_gtls.so ] || ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need+=(rsyslog-gnutls)
command -v nats-server >/dev/null 2>&1 || need+=(nats-server)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v tmux >/dev/null 2>&1 || need+=(tmux)
command -v logger >/dev/null 2>&1 || need+=(bsdutils)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# `make bench` also measures fail2ban-regex beside Vigil on the same log.
if [ "${1:-}" = bench ]; then command -v fail2ban-regex >/dev/null 2>&1 || need+=(fail2ban); fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages for the tests: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}") >/tmp/vigil-apt.log 2>&1 \
    || echo "warning: apt-get could not install ${need[*]} (see /tmp/vigil-apt.log); the tests that need them will skip and say why"
else
  echo "note: not root or no apt-get: ${need[*]} missing; the tests that need them will skip and say why"
fi
exit 0

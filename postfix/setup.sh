#!/usr/bin/env bash
# Wire this machine's Postfix to Mailgate. scripts/setup.sh runs it; run it alone after
# changing Mailgate's domains in /etc/mailgate/mailgate.env. Idempotent: it converges.
#
#   sudo postfix/setup.sh [--tls-cert FILE --tls-key FILE] [DOMAIN...]
#   sudo postfix/setup.sh --unwire
#
# DOMAIN...: Mailgate's domains (default: the ones Mailgate's configuration serves,
# MAILGATE_REPLY_DOMAIN and MAILGATE_DOMAINS, read with /opt/mailgate's runtime).
#   1. main.cf via `postconf -e` (postfix/wire_main_cf.sh: relay domains, refusing safety net,
#      postmaster@/abuse@ aliases, tempfail, smtpd_milters, STARTTLS with --tls-cert), keeping
#      what is configured already and taking out domains it added before that are no longer given;
#   2. /var/spool/postfix/mailgate (owner mailgate, group postfix, 0750) for the milter's socket;
#   3. `postfix check`, then starts Postfix or reloads it.
# --unwire takes Mailgate out of main.cf again (byte for byte as before, when nobody changed
# main.cf since) and reloads Postfix; mailgatectl uninstall does this and more.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
die() { printf 'postfix/setup.sh: %s\n' "$*" >&2; exit 1; }

wire_args=() unwire=0
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --unwire) unwire=1 ;;
    --tls-cert|--tls-key) [ $# -ge 2 ] || die "$1 needs a file"; wire_args+=("$1" "$2"); shift ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) wire_args+=("$1") ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || die "run as root (it edits Postfix's main.cf)"
command -v postconf >/dev/null || die "Postfix is not installed: apt-get install postfix"

reload_postfix() {
  if [ -d /run/systemd/system ]; then
    systemctl enable --quiet postfix
    if systemctl is-active --quiet postfix; then systemctl reload postfix; else systemctl start postfix; fi
  elif postfix status >/dev/null 2>&1; then postfix reload 2>/dev/null
  else postfix start 2>/dev/null
  fi
}

if [ "$unwire" = 1 ]; then
  "$here/wire_main_cf.sh" --unwire
  postfix status >/dev/null 2>&1 && reload_postfix
  exit 0
fi

has_domain=0
for a in "${wire_args[@]}"; do case "$a" in -*) ;; *) has_domain=1 ;; esac; done
if [ "$has_domain" = 0 ]; then
  [ -x /opt/mailgate/bin/python ] || die "no DOMAIN given and no /opt/mailgate runtime to read them from"
  read -r -a domains <<< "$(env -i MAILGATE_SECRET_KEY=unused /opt/mailgate/bin/python -P -c \
    'from mailgate.shared.config import from_env; print(" ".join(from_env().domains))')"
  wire_args+=("${domains[@]}")
fi

"$here/wire_main_cf.sh" "${wire_args[@]}"
postfix check

socket_dir="$(postconf -xh queue_directory)/mailgate"
if id mailgate >/dev/null 2>&1; then
  install -d -m 0750 -o mailgate -g postfix "$socket_dir"
else
  echo "postfix/setup.sh: no user mailgate yet: $socket_dir is left to scripts/setup.sh" >&2
fi
reload_postfix
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null && break; sleep 0.2; done

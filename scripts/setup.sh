#!/usr/bin/env bash
# Set up and run Mailgate on this machine (Debian 12, as root).
#
#   ./scripts/setup.sh [OPTIONS] [REPLY_DOMAIN]
#
# REPLY_DOMAIN      the domain of Mailgate's addresses (default: the one set before, else
#                   reply.mailgate.localhost, which works on this machine only)
# --tls-cert FILE   STARTTLS on port 25 with this PEM certificate (chain) ...
# --tls-key FILE    ... and its private key (docs/going-live.md)
# --base-url URL    the application's own pages: notifications link to URL/tasks/T12
#                   (MAILGATE_BASE_URL; default none: no link, never the admin-only console)
# --no-demo         no demo user, create address and task
# -h, --help        this text; changes nothing
#
# What it does: installs the Debian packages it needs; the runtime in /opt/mailgate (on
# Debian's python3) with the commands mailgate and mailgatectl; user mailgate; the
# configuration /etc/mailgate/mailgate.env (checked before it is written); the database and
# mail key in /var/lib/mailgate; Postfix wired to the milter; the milter, the console
# (http://127.0.0.1:8080) and the outbound worker as user mailgate (systemd units, or
# pid files where systemd does not run the machine); a demo user and task.
# Run it again at any time: it converges, and keeps data, keys and passwords. A new
# REPLY_DOMAIN replaces the old one everywhere it set it (Postfix included).
# Day to day: mailgatectl status|stop|restart|logs, uninstall: mailgatectl uninstall
# (docs/operations.md).
set -euo pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 2; }

# --- arguments, all checked before anything is written ---------------------------------------
DOMAIN="" TLS_CERT="" TLS_KEY="" BASE_URL="" DEMO=1
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --tls-cert|--tls-key|--base-url)
      [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a value (see --help)"
      case "$1" in --tls-cert) TLS_CERT=$2 ;; --tls-key) TLS_KEY=$2 ;; --base-url) BASE_URL=$2 ;; esac
      shift ;;
    --no-demo) DEMO=0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$DOMAIN" ] || die "one REPLY_DOMAIN only (got $DOMAIN and $1; see --help)"; DOMAIN=$1 ;;
  esac
  shift
done
if [ -n "$DOMAIN" ]; then
  DOMAIN=$(printf '%s' "$DOMAIN" | tr 'A-Z' 'a-z'); DOMAIN=${DOMAIN%.}
  label='[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?'
  [[ ${#DOMAIN} -le 253 && $DOMAIN =~ ^$label(\.$label)*$ ]] || die "$DOMAIN is not a domain name (see --help)"
fi
if [ -n "$TLS_CERT$TLS_KEY" ] && { [ -z "$TLS_CERT" ] || [ -z "$TLS_KEY" ]; }; then
  die "--tls-cert and --tls-key go together"
fi
for f in "$TLS_CERT" "$TLS_KEY"; do [ -z "$f" ] || [ -r "$f" ] || die "cannot read $f"; done
[ -z "$BASE_URL" ] || [[ $BASE_URL =~ ^https?://[^/[:space:]]+[^[:space:]]*$ ]] || die "--base-url: $BASE_URL is not an http(s) URL"
[ "$(id -u)" = 0 ] || die "run as root: it installs packages, a system user and the Postfix wiring"

. "$(dirname "$0")/lib.sh"
cd "$REPO"
if [ -t 1 ]; then say() { printf '\033[1m==> %s\033[0m\n' "$*"; }; else say() { printf '==> %s\n' "$*"; }; fi

OPT=/opt/mailgate
CONF_DIR=/etc/mailgate
ENV_FILE=$CONF_DIR/mailgate.env
INSTANCE=/var/lib/mailgate
SERVICES=(milter web worker)

# --- packages, user, runtime --------------------------------------------------------------------
SYSTEM_PACKAGES=(python3 python3-venv python3-dev gcc libmilter-dev postfix swaks procps openssl logrotate util-linux)
install_system_packages
say "system user mailgate (groups postfix: the milter's socket; postdrop: Postfix's maildrop and showq)"
id mailgate >/dev/null 2>&1 || adduser --system --group --home "$INSTANCE" --no-create-home --quiet mailgate
usermod -a -G postfix,postdrop mailgate

say "runtime $OPT (Debian's python3, readable by user mailgate)"
[ -x "$OPT/bin/python" ] || /usr/bin/python3 -m venv "$OPT"
pip_log=$(mktemp)
if ! { "$OPT/bin/pip" install -q --disable-pip-version-check --upgrade pip &&
       "$OPT/bin/pip" install -q --disable-pip-version-check "$REPO" &&
       "$OPT/bin/pip" install -q --disable-pip-version-check --no-deps --force-reinstall "$REPO"; } >"$pip_log" 2>&1; then
  cat "$pip_log" >&2; rm -f "$pip_log"; die "installing Mailgate into $OPT failed"
fi
rm -f "$pip_log"
rm -rf "$OPT/share"
install -d -m 0755 "$OPT/share/scripts" "$OPT/share/deploy" "$OPT/share/postfix" "$OPT/share/doc"
install -m 0755 scripts/mailgatectl "$OPT/share/scripts/"
install -m 0644 scripts/services.sh "$OPT/share/scripts/"
install -m 0644 deploy/*.service deploy/logrotate "$OPT/share/deploy/"
install -m 0755 postfix/*.sh "$OPT/share/postfix/"
install -m 0644 docs/*.md "$OPT/share/doc/"
rm -f /usr/local/bin/mailgate  # an earlier setup's symlink into a virtualenv: never write through it
cat > /usr/local/bin/mailgate <<'WRAPPER'
#!/bin/sh
# Installed by Mailgate's scripts/setup.sh. Run by root, Mailgate runs as user mailgate, like its
# services: files it creates (the SQLite database and its journal) stay theirs.
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid=mailgate --regid=mailgate --init-groups -- /opt/mailgate/bin/mailgate "$@"
fi
exec /opt/mailgate/bin/mailgate "$@"
WRAPPER
chmod 0755 /usr/local/bin/mailgate
ln -sf "$OPT/share/scripts/mailgatectl" /usr/local/sbin/mailgatectl
install -m 0644 deploy/logrotate /etc/logrotate.d/mailgate
runuser -u mailgate -- "$OPT/bin/mailgate" --version >/dev/null || die "user mailgate cannot run $OPT/bin/mailgate"
cd /  # Mailgate runs as user mailgate from here on, who may not enter the repository's folder

# --- configuration: composed aside, checked by Mailgate itself, then put in place ----------------
say "configuration $ENV_FILE"
install -d -m 0750 -o root -g mailgate "$CONF_DIR"
new=$(mktemp "$CONF_DIR/.mailgate.env.XXXXXX")
trap 'rm -f "$new"' EXIT
if [ -f "$ENV_FILE" ]; then cat "$ENV_FILE" > "$new"
else echo "# Mailgate configuration: every entry point reads it (docs/configuration.md)." > "$new"; fi
quoted() { case "$1" in *[!A-Za-z0-9_./:@,+=-]*) printf "'%s'" "$1" ;; *) printf '%s' "$1" ;; esac; }
set_setting() { sed -i "/^$1=/d" "$new"; printf '%s=%s\n' "$1" "$(quoted "$2")" >> "$new"; }
ensure_setting() { grep -q "^$1=" "$new" || printf '%s=%s\n' "$1" "$(quoted "$2")" >> "$new"; }
[ -z "$DOMAIN" ] || set_setting MAILGATE_REPLY_DOMAIN "$DOMAIN"
ensure_setting MAILGATE_REPLY_DOMAIN reply.mailgate.localhost
ensure_setting MAILGATE_INSTANCE "$INSTANCE"
ensure_setting MAILGATE_MILTER_SOCKET unix:/var/spool/postfix/mailgate/milter.sock
ensure_setting MAILGATE_MAILERS '[{"key": "local", "type": "sendmail"}]'
# Earlier setups pointed MAILGATE_BASE_URL at the console, which ordinary users cannot open.
sed -i '/^MAILGATE_BASE_URL=http:\/\/127\.0\.0\.1:8080$/d' "$new"
[ -z "$BASE_URL" ] || set_setting MAILGATE_BASE_URL "$BASE_URL"
domains=$(env -i MAILGATE_CONFIG="$new" MAILGATE_SECRET_KEY=unused "$OPT/bin/python" -P -c '
import sys
from mailgate.shared.config import ConfigError, from_env
try:
    print(" ".join(from_env().domains))
except ConfigError as exc:
    sys.exit(f"setup.sh: the configuration would be wrong; nothing changed: {exc}")') || exit 1
read -r -a DOMAINS <<< "$domains"
imap_host=$(env -i MAILGATE_CONFIG="$new" "$OPT/bin/python" -P -c \
  'from mailgate.shared.config import reader; print((reader().get("IMAP_HOST") or "").strip())')
[ -z "$imap_host" ] || SERVICES+=(imap)  # the IMAP poller, when a mailbox is configured
chown root:mailgate "$new"; chmod 0640 "$new"
mv -f "$new" "$ENV_FILE"
trap - EXIT
REPLY_DOMAIN=${DOMAINS[0]}

# --- database, admin, demo ------------------------------------------------------------------------
install -d -m 0750 -o mailgate -g mailgate "$INSTANCE"
say "database, mail key and the built-in application"
mailgate init
if [ ! -f "$CONF_DIR/admin-password" ]; then
  # A first admin with a generated password; none when one exists already (its password file deleted).
  (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$CONF_DIR/admin-password.new")
  if mailgate create-admin admin --password-stdin < "$CONF_DIR/admin-password.new" >/dev/null 2>&1; then
    mv "$CONF_DIR/admin-password.new" "$CONF_DIR/admin-password"
  else
    rm -f "$CONF_DIR/admin-password.new"
  fi
fi
if [ "$DEMO" = 1 ] && ! mailgate user list --json | grep -q '"username": "demo"'; then
  say "demo: user demo, create address tasks@$REPLY_DOMAIN, task T1"
  mailgate user add demo demo@example.org --name "Demo User" >/dev/null
  mailgate address add tasks "tasks@$REPLY_DOMAIN" >/dev/null
  printf 'From: Demo User <demo@example.org>\r\nTo: tasks@%s\r\nSubject: Welcome to Mailgate\r\nMessage-ID: <welcome@mailgate.local>\r\n\r\nReply to the notification of this task to comment on it.\r\n' "$REPLY_DOMAIN" |
    mailgate receive-test --to "tasks@$REPLY_DOMAIN" >/dev/null
fi

# --- Postfix and the services ---------------------------------------------------------------------
say "Postfix: ${DOMAINS[*]} relayed to the milter${TLS_CERT:+, STARTTLS with $TLS_CERT}"
tls_args=()
[ -z "$TLS_CERT" ] || tls_args=(--tls-cert "$TLS_CERT" --tls-key "$TLS_KEY")
"$REPO/postfix/setup.sh" "${tls_args[@]}" "${DOMAINS[@]}"

. "$OPT/share/scripts/services.sh"
if have_systemd; then how="systemd units"; else how="background daemons with pid files in $RUN_DIR, logs in $LOG_DIR"; fi
say "services ${SERVICES[*]} as user mailgate ($how)"
printf '%s\n' "# Written by scripts/setup.sh: the services mailgatectl manages." "${SERVICES[@]}" > "$ENABLED_FILE"
for s in "${SERVICES[@]}"; do
  svc_install "$s"
  svc_restart "$s"
done

# Ready means listening: the milter on its socket, the console on its port.
ready() {
  "$OPT/bin/python" -P -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])' /var/spool/postfix/mailgate/milter.sock 2>/dev/null &&
    (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null
}
for _ in $(seq 1 600); do ready && break; sleep 0.1; done
ready || { for s in "${SERVICES[@]}"; do svc_status "$s" || svc_logs "$s" 20; done; die "the services did not come up"; }

say "mailgate check"
mailgate check || true

REPLY=""
[ "$DEMO" = 1 ] && REPLY=$(mailgate reply-address T1 demo 2>/dev/null | tail -n 1) || true
echo
echo "Mailgate is running (mailgatectl status; docs/operations.md)."
if [ -f "$CONF_DIR/admin-password" ]; then
  echo "  console:  http://127.0.0.1:8080   user \"admin\", password in $CONF_DIR/admin-password:"
  echo "            log in, change it (Change password, or mailgate admin passwd admin), then delete that file"
else
  echo "  console:  http://127.0.0.1:8080   your admin account"
fi
if [ -n "$REPLY" ]; then
  cat <<DONE
  reply to T1 as the demo user (becomes a comment and closes the task):

    swaks --server 127.0.0.1:25 --from demo@example.org --to '$REPLY' \\
          --header 'Subject: Re: Welcome' --body \$'Thanks, works for me.\n\n!close'

    mailgate task show T1
DONE
fi

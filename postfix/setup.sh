#!/usr/bin/env bash
# Wire this machine's Postfix to Mailgate and start both. Idempotent: run it again
# after changing the domain or upgrading; it converges, it does not duplicate.
#
#   sudo postfix/setup.sh [--demo] [ENV_FILE]
#
# ENV_FILE (default /etc/mailgate/mailgate.env, created on first run) holds the MAILGATE_*
# settings; scripts/setup.sh passes its own.
#
# Environment (all optional):
#   MAILGATE_REPLY_DOMAIN   the reply domain (default: the one in /etc/mailgate/mailgate.env,
#                           else reply.mailgate.localhost, which works on this machine only)
#   MAILGATE_BIN            the mailgate command (default: the repository's .venv/bin/mailgate)
#   MAILGATE_ENV_FILE       default /etc/mailgate/mailgate.env (created on first run)
#
# What it does, in order:
#   1. a `mailgate` system user (member of group postfix: it must hand the socket to postfix);
#   2. /etc/mailgate/mailgate.env, the instance folder, `mailgate init`;
#   3. main.cf via `postconf -e` (relay domain, refusing safety net, postmaster@/abuse@ aliases,
#      tempfail, smtpd_milters), keeping whatever relay domains, transport maps, virtual
#      alias maps and milters are already configured;
#   4. /var/spool/postfix/mailgate (owner mailgate, group postfix, 0750) for the socket;
#   5. starts (or restarts) the milter: the systemd unit when systemd is PID 1, else a
#      background daemon with a pid file (/run/mailgate/milter.pid, log /var/log/mailgate/milter.log);
#   6. starts or reloads Postfix, and runs `mailgate check`.
# --demo also creates a user `demo` (demo@example.org) and a task, and prints a reply
# address with the swaks command that turns a reply into a comment.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(dirname "$here")"
demo=0
env_arg=""
for arg in "$@"; do
  case "$arg" in
    --demo) demo=1 ;;
    -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
    -*) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
    *) env_arg="$arg" ;;
  esac
done

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'setup.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it edits Postfix's main.cf and creates a system user)"
command -v postconf >/dev/null || die "Postfix is not installed: apt-get install postfix libmilter-dev"
MAILGATE_BIN="${MAILGATE_BIN:-$repo/.venv/bin/mailgate}"
[ -x "$MAILGATE_BIN" ] || die "$MAILGATE_BIN not found: create the venv first (python3 -m venv .venv && .venv/bin/pip install -e .)"
ENV_FILE="${env_arg:-${MAILGATE_ENV_FILE:-/etc/mailgate/mailgate.env}}"
SPOOL="$(postconf -xh queue_directory)"
SOCKET_DIR="$SPOOL/mailgate"
SOCKET="$SOCKET_DIR/milter.sock"
PID_FILE=/run/mailgate/milter.pid
LOG_FILE=/var/log/mailgate/milter.log
MILTER_STOP_SECONDS=90  # > the milter's drain (DRAIN_SECONDS = 60) plus its stop; = the unit's TimeoutStopSec

# --- 1. user ------------------------------------------------------------------------------
say "system user mailgate"
if ! id mailgate >/dev/null 2>&1; then
  adduser --system --group --home /var/lib/mailgate --no-create-home --quiet mailgate
fi
id -nG mailgate | grep -qw postfix || usermod -a -G postfix mailgate
# The milter runs as `mailgate` when that user can run the interpreter (a venv under /root
# cannot be), otherwise as root, with a warning.
RUN_AS=mailgate
if ! runuser -u mailgate -- "$MAILGATE_BIN" --help >/dev/null 2>&1; then
  RUN_AS=root
  echo "warning: user mailgate cannot run $MAILGATE_BIN (is the venv under a private home?); the milter runs as root" >&2
fi

# --- 2. configuration and database -------------------------------------------------------
say "configuration $ENV_FILE"
install -d -m 0750 -o root -g mailgate "$(dirname "$ENV_FILE")"
if [ ! -f "$ENV_FILE" ]; then
  cat > "$ENV_FILE" <<EOF
# Mailgate settings (see docs/milter.md). Read by the systemd unit and postfix/setup.sh.
MAILGATE_INSTANCE=/var/lib/mailgate
MAILGATE_REPLY_DOMAIN=${MAILGATE_REPLY_DOMAIN:-reply.mailgate.localhost}
MAILGATE_MILTER_SOCKET=unix:$SOCKET
EOF
  chmod 0640 "$ENV_FILE"; chgrp mailgate "$ENV_FILE"
elif [ -n "${MAILGATE_REPLY_DOMAIN:-}" ]; then
  sed -i "s|^MAILGATE_REPLY_DOMAIN=.*|MAILGATE_REPLY_DOMAIN=$MAILGATE_REPLY_DOMAIN|" "$ENV_FILE"
fi
set -a; . "$ENV_FILE"; set +a
install -d -m 0750 -o mailgate -g mailgate "${MAILGATE_INSTANCE:-/var/lib/mailgate}"
# The settings are exported (set -a above) and runuser keeps the environment, so values
# with spaces or quotes (MAILGATE_MAILERS' JSON) reach mailgate intact.
mg() { if [ "$RUN_AS" = root ]; then "$MAILGATE_BIN" "$@"; else runuser -u mailgate -- "$MAILGATE_BIN" "$@"; fi; }
mg init
[ "$RUN_AS" = root ] || chown -R mailgate:mailgate "${MAILGATE_INSTANCE:-/var/lib/mailgate}"
DOMAINS="$(PYTHONSAFEPATH=1 "$(dirname "$MAILGATE_BIN")/python" -c \
  'from mailgate.shared.config import from_env; print(" ".join(from_env().domains))')"

# --- 3. Postfix main.cf ------------------------------------------------------------------
say "Postfix: Mailgate domains ($DOMAINS) as relay domains, refusing safety net, milter with tempfail"
"$here/wire_main_cf.sh" $DOMAINS
postfix check

# --- 4. socket directory -----------------------------------------------------------------
say "socket directory $SOCKET_DIR"
install -d -m 0750 -o "$RUN_AS" -g postfix "$SOCKET_DIR"
install -d -m 0755 -o "$RUN_AS" -g mailgate /run/mailgate /var/log/mailgate

# --- 5. the milter -----------------------------------------------------------------------
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  say "milter: systemd unit mailgate-milter.service"
  sed -e "s|@MAILGATE_BIN@|$MAILGATE_BIN|g" -e "s|@ENV_FILE@|$ENV_FILE|g" -e "s|@USER@|$RUN_AS|g" \
    "$repo/deploy/mailgate-milter.service" > /etc/systemd/system/mailgate-milter.service
  systemctl daemon-reload
  systemctl enable --quiet mailgate-milter.service
  systemctl restart mailgate-milter.service
else
  say "milter: background daemon (no systemd as PID 1), pid file $PID_FILE, log $LOG_FILE"
  # The old milter finishes its messages in flight first (server.py's DRAIN_SECONDS, 60 s) and
  # listens until then; a new one started meanwhile would be refused ("another milter is
  # listening"), so wait for the old pid itself to exit, as long as systemd's TimeoutStopSec.
  old_pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  if [ -n "$old_pid" ] && kill -0 "$old_pid" 2>/dev/null; then
    kill -TERM "$old_pid"
    for _ in $(seq 1 $((MILTER_STOP_SECONDS * 10))); do kill -0 "$old_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$old_pid" 2>/dev/null && die "the old milter (pid $old_pid) did not stop within ${MILTER_STOP_SECONDS} s; stop it, then run this again"
  fi
  if [ "$RUN_AS" = root ]; then
    setsid nohup "$MAILGATE_BIN" milter --pid-file "$PID_FILE" >>"$LOG_FILE" 2>&1 < /dev/null &
  else
    PYTHONSAFEPATH=1 setsid nohup runuser -u mailgate -- \
      "$MAILGATE_BIN" milter --pid-file "$PID_FILE" >>"$LOG_FILE" 2>&1 < /dev/null &
  fi
fi
# Listening, not merely there: the socket file of a milter that died is still there (and the
# new one replaces it only after its start-up checks), so test with a connection.
listening() {
  "$(dirname "$MAILGATE_BIN")/python" -c 'import socket, sys
s = socket.socket(socket.AF_UNIX); s.settimeout(2); s.connect(sys.argv[1])' "$SOCKET" 2>/dev/null
}
for _ in $(seq 1 300); do listening && break; sleep 0.1; done
listening || { tail -n 20 "$LOG_FILE" 2>/dev/null; die "the milter is not listening on $SOCKET"; }

# --- 6. Postfix --------------------------------------------------------------------------
say "Postfix: start or reload"
if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  systemctl enable --quiet postfix
  systemctl is-active --quiet postfix && systemctl reload postfix || systemctl start postfix
else
  if postfix status >/dev/null 2>&1; then postfix reload; else postfix start; fi
fi
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/25) 2>/dev/null && break; sleep 0.2; done

say "mailgate check"
mg check || true

if [ "$demo" = 1 ]; then
  say "demo: user demo, a task, and a reply address"
  mg user add demo demo@example.org --name "Demo User" 2>/dev/null || true
  mg address add tasks "inbox@${MAILGATE_REPLY_DOMAIN}" --default-author demo 2>/dev/null || true
  printf 'From: demo@example.org\nTo: inbox@%s\nSubject: Demo task from setup.sh\nMessage-ID: <setup-demo-%s@example.org>\n\nCreated by postfix/setup.sh --demo.\n' \
    "$MAILGATE_REPLY_DOMAIN" "$(date +%s%N)" | mg receive-test --from demo@example.org --to "inbox@${MAILGATE_REPLY_DOMAIN}" --json > /tmp/mailgate-demo.json
  task="$(PYTHONSAFEPATH=1 "$(dirname "$MAILGATE_BIN")/python" -c 'import json; print(json.load(open("/tmp/mailgate-demo.json"))["object"])')"
  addr="$(mg reply-address "$task" demo | tail -n 1)"
  echo
  echo "Reply address for $task as demo: $addr"
  echo "Send a reply through Postfix on port 25:"
  echo "  swaks --server 127.0.0.1:25 --from demo@example.org --to '$addr' --header 'Subject: Re: demo' --body 'My first comment by mail.'"
  echo "Then see it:  $MAILGATE_BIN task show $task   (with the environment of $ENV_FILE)"
fi
say "done: Postfix accepts mail for $DOMAINS on port 25 and hands it to Mailgate"

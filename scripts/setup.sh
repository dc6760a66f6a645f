#!/usr/bin/env bash
# Set up and run Mailgate on this machine (Debian, as root), embedded defaults:
# SQLite, the local Postfix wired to the milter, the admin console, the worker.
#   ./scripts/setup.sh [REPLY_DOMAIN]          (default: reply.mailgate.localhost)
# Safe to run again: it upgrades and restarts, and keeps data, keys and passwords.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/services.sh"
cd "$REPO"
[ "$(id -u)" = 0 ] || { echo "run as root: it installs packages and configures Postfix" >&2; exit 1; }

CONF_DIR=/etc/mailgate
ENV_FILE=$CONF_DIR/mailgate.env
DOMAIN=${1:-}

SYSTEM_PACKAGES=(python3 python3-venv python3-dev gcc libmilter-dev postfix swaks procps)
install_system_packages
make_venv ""
ln -sf "$VENV/bin/mailgate" /usr/local/bin/mailgate

mkdir -p "$CONF_DIR"
# Defaults for what the file does not set yet (an existing value is never changed).
ensure_setting() {
    grep -q "^$1=" "$ENV_FILE" 2>/dev/null || printf '%s=%s\n' "$1" "$2" >> "$ENV_FILE"
}
if [ ! -f "$ENV_FILE" ]; then
    log "writing $ENV_FILE"
    (umask 077; echo "# Mailgate configuration (see docs/design-notes.md for every variable)." > "$ENV_FILE")
fi
if [ -n "$DOMAIN" ]; then
    sed -i "/^MAILGATE_REPLY_DOMAIN=/d" "$ENV_FILE"
fi
ensure_setting MAILGATE_REPLY_DOMAIN "${DOMAIN:-reply.mailgate.localhost}"
ensure_setting MAILGATE_INSTANCE /var/lib/mailgate
ensure_setting MAILGATE_BASE_URL http://127.0.0.1:8080
ensure_setting MAILGATE_MILTER_SOCKET unix:/var/spool/postfix/mailgate/milter.sock
ensure_setting MAILGATE_MAILERS "'[{\"key\": \"local\", \"type\": \"sendmail\"}]'"  # quoted: sourced by sh and systemd
set -a; . "$ENV_FILE"; set +a
DOMAIN=$MAILGATE_REPLY_DOMAIN

log "database, mail key and the built-in application"
mailgate init

if [ ! -f "$CONF_DIR/admin-password" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$CONF_DIR/admin-password")
    mailgate create-admin admin --password-stdin < "$CONF_DIR/admin-password"
fi

# A demo user, a create address and a first task, so there is something to reply to.
if ! mailgate user list --json | grep -q '"username": "demo"'; then
    mailgate user add demo demo@example.org --name "Demo User"
    mailgate address add tasks "tasks@$DOMAIN"
    printf 'From: Demo User <demo@example.org>\r\nTo: tasks@%s\r\nSubject: Welcome to Mailgate\r\nMessage-ID: <welcome@mailgate.local>\r\n\r\nReply to the notification of this task to comment on it.\r\n' "$DOMAIN" |
        mailgate receive-test --to "tasks@$DOMAIN" >/dev/null
fi

log "wiring the local Postfix and starting the milter"
"$REPO/postfix/setup.sh" "$ENV_FILE"

log "starting the console and the outbound worker"
start_service web "$ENV_FILE" /usr/local/bin/mailgate web --host 127.0.0.1 --port 8080
start_service worker "$ENV_FILE" /usr/local/bin/mailgate worker

REPLY=$(mailgate reply-address T1 demo | tail -1)
for _ in $(seq 1 30); do mailgate check >/dev/null 2>&1 && break; sleep 1; done
mailgate check || true
cat <<DONE

Mailgate is running.
  console:   http://127.0.0.1:8080   user "admin", password in $CONF_DIR/admin-password: log in, change it (Change password, or mailgate admin passwd admin), then delete that file
  reply to T1 as the demo user (becomes a comment and closes the task):

    swaks --server 127.0.0.1:25 --from demo@example.org --to '$REPLY' \\
          --header 'Subject: Re: Welcome' --body \$'Thanks, works for me.\n\n!close'

    mailgate task show T1
DONE

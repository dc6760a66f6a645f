# Mailgate's long-lived processes (milter, web, worker, and the optional ones): systemd units
# when systemd runs the machine, otherwise the same commands as background daemons with pid
# files (containers, CI, machines without systemd). Sourced by scripts/setup.sh and mailgatectl.
#
# One source of truth: the unit files (deploy/mailgate-NAME.service). Without systemd, the
# daemon runs the unit's ExecStart= as its User=/Group= with its SupplementaryGroups=, in a
# clean environment made of its Environment= lines, and is stopped as KillMode=mixed would:
# SIGTERM to the main process, up to TimeoutStopSec= for it to finish, then SIGKILL to
# whatever is left of its process group. Its output goes to /var/log/mailgate/NAME.log
# (rotated by /etc/logrotate.d/mailgate).
# shellcheck shell=bash

UNIT_DIR=${MAILGATE_UNIT_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/deploy}
SYSTEMD_DIR=${MAILGATE_SYSTEMD_DIR:-/etc/systemd/system}
RUN_DIR=${MAILGATE_RUN_DIR:-/run/mailgate}
LOG_DIR=${MAILGATE_LOG_DIR:-/var/log/mailgate}
ENABLED_FILE=${MAILGATE_ENABLED_FILE:-/etc/mailgate/services}  # the services setup.sh enabled, one a line

# systemd runs this machine (sd_booted(3): /run/systemd/system exists only then).
have_systemd() { [ -z "${MAILGATE_NO_SYSTEMD:-}" ] && [ -d /run/systemd/system ]; }

unit_file() { echo "$UNIT_DIR/mailgate-$1.service"; }

# The value of KEY= in a unit (the last one; for Environment= every one, space-joined).
unit_value() {
  local file key=$2
  file=$(unit_file "$1")
  if [ "$key" = Environment ]; then
    sed -n 's/^Environment=//p' "$file" | tr '\n' ' '
  else
    sed -n "s/^$key=//p" "$file" | tail -n 1
  fi
}

enabled_services() {
  if [ -f "$ENABLED_FILE" ]; then grep -v '^#' "$ENABLED_FILE" | tr -s ' \n' '\n' | sed '/^$/d'; fi
}

# A process's start time (clock ticks since boot, /proc/PID/stat field 22): with the pid, its identity.
_started() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# The pid of a running service: the pid file names it and the process started when it was written
# (a stale pid file may name a pid since reused by anything).
_pid_of() {
  local pid started
  read -r pid started 2>/dev/null < "$RUN_DIR/$1.pid" || return 1
  [ -n "$pid" ] && [ -n "$started" ] && [ "$(_started "$pid")" = "$started" ] && echo "$pid"
}

# svc_install NAME: the unit into systemd (enabled), or nothing to do for the pid-file way.
svc_install() {
  have_systemd || return 0
  install -m 0644 "$(unit_file "$1")" "$SYSTEMD_DIR/mailgate-$1.service"
  systemctl daemon-reload
  systemctl enable --quiet "mailgate-$1.service"
}

svc_uninstall() {
  svc_stop "$1"
  if have_systemd && [ -f "$SYSTEMD_DIR/mailgate-$1.service" ]; then
    systemctl disable --quiet "mailgate-$1.service" 2>/dev/null || true
    rm -f "$SYSTEMD_DIR/mailgate-$1.service"
    systemctl daemon-reload
  fi
}

svc_start() {
  local name=$1 user group groups cmd pid grouparg
  if have_systemd; then systemctl start "mailgate-$name.service"; return; fi
  if pid=$(_pid_of "$name"); then echo "mailgate-$name is running already (pid $pid)"; return 0; fi
  user=$(unit_value "$name" User); group=$(unit_value "$name" Group)
  groups=$(unit_value "$name" SupplementaryGroups | tr ' ' ',')
  if [ -n "$groups" ]; then grouparg="--groups=$groups"; else grouparg=--clear-groups; fi
  cmd=$(unit_value "$name" ExecStart)
  [ -n "$cmd" ] && [ -n "$user" ] || { echo "$(unit_file "$name"): no ExecStart= or User=" >&2; return 1; }
  install -d -m 0755 "$RUN_DIR"
  install -d -m 0750 -g adm "$LOG_DIR"
  [ -f "$LOG_DIR/$name.log" ] || install -m 0640 -g adm /dev/null "$LOG_DIR/$name.log"
  # shellcheck disable=SC2046,SC2086  # the unit's Environment= pairs and ExecStart= words, split as systemd does
  setsid nohup env -i PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin LANG=C.UTF-8 HOME=/ \
    $(unit_value "$name" Environment) \
    setpriv --reuid="$user" --regid="${group:-$user}" "$grouparg" -- \
    $cmd >>"$LOG_DIR/$name.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid $(_started "$pid")" > "$RUN_DIR/$name.pid"
}

svc_stop() {
  local name=$1 pid seconds
  if have_systemd; then systemctl stop "mailgate-$name.service" 2>/dev/null || true; return; fi
  if ! pid=$(_pid_of "$name"); then rm -f "$RUN_DIR/$name.pid"; return 0; fi
  seconds=$(unit_value "$name" TimeoutStopSec); seconds=${seconds:-90}
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 $((seconds * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true  # what is left of its process group (the milter's writer)
  rm -f "$RUN_DIR/$name.pid"
}

svc_restart() {
  if have_systemd; then systemctl restart "mailgate-$1.service"; return; fi
  svc_stop "$1"
  svc_start "$1"
}

# svc_status NAME: one line; exit 0 when running.
svc_status() {
  local name=$1 pid
  if have_systemd; then
    printf 'mailgate-%s: %s\n' "$name" "$(systemctl is-active "mailgate-$name.service" 2>/dev/null)"
    systemctl is-active --quiet "mailgate-$name.service"
    return
  fi
  if pid=$(_pid_of "$name"); then
    printf 'mailgate-%s: running (pid %s, as %s, since %s), log %s\n' "$name" "$pid" \
      "$(ps -o user= -p "$pid")" "$(ps -o lstart= -p "$pid")" "$LOG_DIR/$name.log"
  else
    printf 'mailgate-%s: stopped\n' "$name"
    return 3  # as systemctl is-active / LSB status: not running
  fi
}

svc_logs() {
  local name=$1 lines=${2:-50} follow=${3:-}
  if have_systemd; then journalctl -u "mailgate-$name.service" -n "$lines" --no-pager ${follow:+-f}; return; fi
  tail -n "$lines" ${follow:+-F} "$LOG_DIR/$name.log"
}

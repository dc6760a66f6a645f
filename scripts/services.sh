# Run Mailgate's long-lived processes: systemd units when systemd runs the
# machine, otherwise background daemons with pid files (containers, CI).
# shellcheck shell=bash

RUN_DIR=${MAILGATE_RUN_DIR:-/run/mailgate}
LOG_DIR=${MAILGATE_LOG_DIR:-/var/log/mailgate}

have_systemd() { [ -d /run/systemd/system ] && [ "$(ps -o comm= -p 1 2>/dev/null)" = systemd ]; }

# start_service NAME ENV_FILE COMMAND...   (idempotent: restarts a running one)
start_service() {
    local name=$1 env_file=$2; shift 2
    if have_systemd; then
        cat > "/etc/systemd/system/mailgate-$name.service" <<UNIT
[Unit]
Description=Mailgate $name
After=network.target postfix.service

[Service]
EnvironmentFile=$env_file
ExecStart=$*
Restart=on-failure
KillSignal=SIGTERM
TimeoutStopSec=70

[Install]
WantedBy=multi-user.target
UNIT
        systemctl daemon-reload
        systemctl enable --now "mailgate-$name.service" >/dev/null
        systemctl restart "mailgate-$name.service"
        return
    fi
    mkdir -p "$RUN_DIR" "$LOG_DIR"
    stop_service "$name"
    (
        set -a; . "$env_file"; set +a
        cd /
        nohup setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
        echo $! > "$RUN_DIR/$name.pid"
    )
}

stop_service() {
    local name=$1 pid
    if have_systemd; then
        systemctl stop "mailgate-$name.service" 2>/dev/null || true
        return
    fi
    [ -f "$RUN_DIR/$name.pid" ] || return 0
    pid=$(cat "$RUN_DIR/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 70); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$name.pid"
}

# A throwaway PostgreSQL cluster for the tests: unix socket only, own data dir.
# shellcheck shell=bash
#   pg_start DIR PORT   -> prints the SQLAlchemy URL of database `mailgate_test`
#   pg_stop DIR

pg_bindir() {
    local d
    d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$d" ] || { echo "PostgreSQL server binaries not found (apt-get install postgresql)" >&2; return 1; }
    echo "$d"
}

pg_start() {
    local dir=$1 port=$2 bin
    bin=$(pg_bindir)
    mkdir -p "$dir"
    chown postgres: "$dir" 2>/dev/null || true
    local as=(runuser -u postgres --)
    [ "$(id -u)" = 0 ] || as=()
    if [ ! -f "$dir/data/PG_VERSION" ]; then
        "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync >/dev/null
    fi
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -o "-k $dir -p $port -c listen_addresses='' -c fsync=on -c max_connections=200" start >/dev/null
    "${as[@]}" "$bin/psql" -h "$dir" -p "$port" -U postgres -qAtc "SELECT 1 FROM pg_database WHERE datname='mailgate_test'" | grep -q 1 ||
        "${as[@]}" "$bin/createdb" -h "$dir" -p "$port" -U postgres mailgate_test
    echo "postgresql+psycopg://postgres@/mailgate_test?host=$dir&port=$port"
}

pg_stop() {
    local dir=$1 bin
    bin=$(pg_bindir)
    local as=(runuser -u postgres --)
    [ "$(id -u)" = 0 ] || as=()
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
}

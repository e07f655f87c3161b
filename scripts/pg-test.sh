#!/usr/bin/env bash
# pg-test.sh starts a throwaway PostgreSQL server on loopback for the store
# tests, installing Debian's postgresql package first if it is missing.
#
#   eval "$(scripts/pg-test.sh)"       # start (or reuse) and export SILO_TEST_POSTGRES
#   scripts/pg-test.sh start FILE      # same, but write the export line to FILE
#   scripts/pg-test.sh env             # print the export line of the running server
#   scripts/pg-test.sh stop            # stop the server and delete its data
#
# The cluster lives in $SILO_PG_DIR (default ${TMPDIR:-/tmp}/silo-pg-test),
# listens only on 127.0.0.1 on the first free port from $SILO_PG_PORT
# (default 55432), keeps its unix socket in that directory, and has durability
# turned off (fsync, synchronous_commit): it is for tests only. The DSN names a
# role "silo" with a random password and CREATEDB, so each test can create and
# drop its own database. Run as root, the server runs as the "postgres" user
# (initdb refuses root); run as anyone else, it runs as that user.
#
# Progress goes to stderr; stdout carries only the export line, so the output
# can be eval'd.
set -euo pipefail

dir=${SILO_PG_DIR:-${TMPDIR:-/tmp}/silo-pg-test}
first_port=${SILO_PG_PORT:-55432}

log() { echo "pg-test: $*" >&2; }
die() { echo "pg-test: error: $*" >&2; exit 1; }

# bindir finds the newest PostgreSQL server binaries, installing them if none.
bindir() {
	local d
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	if [[ -n $d && -x $d/initdb && -x $d/pg_ctl ]]; then
		echo "$d"
		return
	fi
	if command -v pg_ctl >/dev/null && command -v initdb >/dev/null; then
		dirname "$(command -v pg_ctl)"
		return
	fi
	[[ $(id -u) == 0 ]] || die "PostgreSQL is not installed; run as root to install it, or: apt-get install postgresql"
	log "installing postgresql (apt-get)"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update >&2
	apt-get install -y --no-install-recommends postgresql >&2
	d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
	[[ -n $d && -x $d/initdb ]] || die "postgresql installed but initdb not found under /usr/lib/postgresql"
	echo "$d"
}

# as runs a command as the cluster's owner, without the lock descriptor (the
# server must not inherit it, or it would hold the lock for its lifetime).
as() {
	if [[ $(id -u) == 0 ]]; then
		runuser -u postgres -- "$@" 9>&-
	else
		"$@" 9>&-
	fi
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

env_line() {
	local port pw
	port=$(cat "$dir/port")
	pw=$(cat "$dir/silo.pw")
	echo "export SILO_TEST_POSTGRES='postgres://silo:$pw@127.0.0.1:$port/postgres?sslmode=disable'"
}

running() { [[ -d $dir/data ]] && as "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; }

start() {
	local out=${1:-}
	if running; then
		log "reusing the server in $dir on port $(cat "$dir/port")"
	else
		if [[ -d $dir ]]; then
			log "removing the stale cluster in $dir"
			rm -rf "$dir"
		fi
		mkdir -p "$dir"
		chmod 700 "$dir"
		if [[ $(id -u) == 0 ]]; then
			id postgres >/dev/null 2>&1 || die "no postgres user; is the postgresql package installed?"
			chown postgres: "$dir"
		fi

		local port=$first_port
		while ! port_free "$port"; do
			port=$((port + 1))
			((port < first_port + 100)) || die "no free port in $first_port..$((first_port + 99))"
		done
		echo "$port" >"$dir/port"
		head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$dir/silo.pw"
		chmod 600 "$dir/silo.pw"

		log "initdb in $dir/data"
		as "$bin/initdb" -D "$dir/data" -U postgres -E UTF8 --locale=C \
			--auth-local=trust --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; die "initdb failed"; }

		log "starting on 127.0.0.1:$port"
		as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
			start >&2 || { cat "$dir/server.log" >&2; die "pg_ctl start failed"; }

		as "$bin/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres \
			-c "CREATE ROLE silo LOGIN CREATEDB PASSWORD '$(cat "$dir/silo.pw")'" >&2 ||
			die "create role failed"
	fi
	if [[ -n $out ]]; then
		env_line >"$out"
		log "wrote $out"
	else
		env_line
	fi
}

stop() {
	if running; then
		as "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >&2
	fi
	rm -rf "$dir"
	log "stopped; removed $dir"
}

cmd=${1:-start}
case $cmd in
start | stop | env) ;;
*) die "usage: $0 [start [FILE] | env | stop]" ;;
esac

bin=$(bindir)
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9

case $cmd in
start) start "${2:-}" ;;
env)
	running || die "no server running in $dir; run: $0 start"
	env_line
	;;
stop) stop ;;
esac

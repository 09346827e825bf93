#!/usr/bin/env bash
# Make sure PostgreSQL, RabbitMQ and Redis answer on their local ports: start the ones that are
# installed but stopped; otherwise stop with one line saying what is missing and how to get it.
# PostgreSQL also needs the pgvector extension (scripts/pgvector.sh installs it when missing).
set -u
PG_HOST=${PG_HOST:-127.0.0.1}

up_pg() { (exec 3<>/dev/tcp/$PG_HOST/5432) 2>/dev/null; }
up_rabbit() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
up_redis() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }

wait_for() {  # name, check function, seconds
  for _ in $(seq 1 "$3"); do "$2" && return 0; sleep 1; done
  return 1
}

missing() {
  echo "error: $1 is not running and not installed here; install it (Debian: apt-get install -y $2) or start it with 'docker compose -f deploy/docker-compose.yml up -d $3'" >&2
  exit 1
}

if ! up_pg; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    echo "starting PostgreSQL" >&2
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >&2 || true
    wait_for PostgreSQL up_pg 30 || { echo "error: PostgreSQL did not start" >&2; exit 1; }
  else
    missing PostgreSQL postgresql postgres
  fi
fi
PG_HOST=$PG_HOST "$(dirname "$0")/pgvector.sh" || exit 1

if ! up_redis; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "starting Redis" >&2
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/redis-wa.log >&2 || true
    wait_for Redis up_redis 15 || { echo "error: Redis did not start" >&2; exit 1; }
  else
    missing Redis redis-server redis
  fi
fi

if ! up_rabbit; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "starting RabbitMQ" >&2
    rabbitmq-server -detached >&2 || true
    wait_for RabbitMQ up_rabbit 60 || { echo "error: RabbitMQ did not start" >&2; exit 1; }
  else
    missing RabbitMQ rabbitmq-server rabbitmq
  fi
fi
exit 0

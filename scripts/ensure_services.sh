#!/usr/bin/env bash
# Start local PostgreSQL and Redis if they are not answering (CI and fresh machines).
set -euo pipefail
db_url="${DATABASE_URL:-postgres://127.0.0.1:5432/copytrade}"
redis_url="${REDIS_URL:-redis://127.0.0.1:6379/0}"

if [[ "$db_url" == *"127.0.0.1"* || "$db_url" == *"localhost"* ]]; then
  if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
  fi
fi
if [[ "$redis_url" == *"127.0.0.1"* || "$redis_url" == *"localhost"* ]]; then
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
    for _ in $(seq 1 50); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done
  fi
fi
# RabbitMQ, for the tests that run the workers on both brokers (`make test` sets
# ENSURE_RABBITMQ=1): started where it is installed; where it is not, those tests fail and say
# so (or are skipped with TESTS_WITHOUT_RABBITMQ=1, tests/fixtures/rabbitmq.py).
if [[ "${ENSURE_RABBITMQ:-0}" == "1" ]] && command -v rabbitmq-server >/dev/null 2>&1; then
  if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached
    rabbitmqctl -q await_startup --timeout 120
  fi
fi

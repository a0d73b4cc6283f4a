#!/usr/bin/env bash
# Create the application database named in DATABASE_URL if it does not exist yet.
set -euo pipefail
.venv/bin/python - <<'PY'
import os, environ, psycopg2
from psycopg2 import sql
cfg = environ.Env.db_url_config(os.environ.get("DATABASE_URL", "postgres://127.0.0.1:5432/copytrade"))
conn = psycopg2.connect(dbname="postgres", user=cfg.get("USER") or None, password=cfg.get("PASSWORD") or None,
                        host=cfg.get("HOST") or None, port=cfg.get("PORT") or None)
conn.autocommit = True
with conn.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]])
    if cur.fetchone() is None:
        cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(cfg["NAME"])))
        print(f"created database {cfg['NAME']}")
PY

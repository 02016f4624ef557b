"""Run one SQL query with DuckDB and print the rows as JSON (one list per row).

Used by the Rust integration tests so that every table they check is read back by DuckDB,
the way analysts read it. Usage: duckdb_query.py "SQL"
"""

import json
import sys

import duckdb


def main() -> None:
    sql = sys.argv[1]
    rows = duckdb.sql(sql).fetchall()
    print(json.dumps([list(r) for r in rows], default=str))


if __name__ == "__main__":
    main()

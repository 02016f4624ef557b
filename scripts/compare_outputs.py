#!/usr/bin/env python3
"""Compares the tables of two hivewatch output folders: schemas exactly, rows as multisets.

Usage:
    compare_outputs.py BEFORE AFTER [--tables runs,trends,...] [--ignore COLUMN ...] [--schema-only]
                       [--quiet]

    BEFORE, AFTER   two output roots (e.g. `hivewatch demo --nights 3 --output DIR` of two
                    builds on the same scenario).
    --tables        only these tables (comma-separated); default: every table folder found in
                    either output (a folder holding `run_date=*/*.parquet`).
    --ignore        a column to leave out of the row comparison, besides those that differ from
                    one run to the next by nature: `run_id` and any column ending in `run_id`,
                    timestamps (columns ending in `_at`), `latency_ms`, `elapsed_ms`,
                    `config_hash`. Repeatable.
    --schema-only   compare the files and their schemas, not the rows.
    --quiet         print only the differences and the summary line.

What is compared, per table:
    - the files: how many, in which `run_date` partitions;
    - the schema of every file, exactly: each column's name, order, Parquet physical and logical
      type and repetition (nullability), and the Arrow schema hivewatch stores in the file's
      key-value metadata (`ARROW:schema`), and the types DuckDB reads;
    - the rows, as multisets (row order ignored), every column but the ignored ones. Run ids
      differ between two outputs by nature, so each output's run ids (from its `runs` table, in
      date order) are replaced by RUN1, RUN2, ... wherever they appear in a text column (for
      example `trends.segment_start`).

Exit status: 0 when every table matches, 1 otherwise, 2 on bad arguments.
Needs the `duckdb` Python package (the test suite's venv has it).

Recipe: two builds on the same night (OLD and NEW binaries).
    OLD demo --nights 3 --output /tmp/a;  NEW demo --nights 3 --output /tmp/b
    compare_outputs.py /tmp/a /tmp/b
        (or with --schema-only) schemas: every table must match exactly. Rows: the simulator is not replayed exactly
        from one demo to the next (its faults are random, and a model without a seed gets its
        samples' texts in the order its requests arrive), so `responses` match only with
        --ignore attempts --ignore completion_tokens --ignore response_text --ignore
        response_hash, and the tables derived from the texts differ as much as two demos of the
        same build do. For the rows of the derived tables, derive them from the same responses:
    cp -r /tmp/a /tmp/a-old; cp -r /tmp/a /tmp/a-new
    OLD analyze --output /tmp/a-old;  NEW analyze --output /tmp/a-new
    compare_outputs.py /tmp/a-old /tmp/a-new        (every table, every row)
    and for the responses an import writes: OLD/NEW import --format jsonl
    datasets/examples/generic.jsonl --run-date 2026-01-05 --output /tmp/i-old (/tmp/i-new).
"""

import argparse
import sys
from pathlib import Path

import duckdb

ALWAYS_IGNORED = ("latency_ms", "elapsed_ms", "config_hash")


def ignored(column, extra):
    return (
        column in extra
        or column in ALWAYS_IGNORED
        or column.endswith("run_id")
        or column.endswith("_at")
    )


def tables_in(root):
    return {
        p.name
        for p in root.iterdir()
        if p.is_dir() and any(p.glob("run_date=*/*.parquet"))
    }


def glob(root, table):
    return str(root / table / "*" / "*.parquet")


def quote(s):
    return "'" + s.replace("'", "''") + "'"


def files(con, root, table):
    rows = con.execute(
        f"SELECT file FROM glob({quote(glob(root, table))}) ORDER BY file"
    ).fetchall()
    return [Path(r[0]) for r in rows]


def schemas(con, paths):
    """Each file's schema: the Parquet columns and the Arrow schema in its metadata."""
    out = set()
    for p in paths:
        columns = con.execute(
            "SELECT name, type, converted_type, logical_type, repetition_type, num_children "
            f"FROM parquet_schema({quote(str(p))})"
        ).fetchall()
        arrow = con.execute(
            "SELECT value FROM parquet_kv_metadata(" + quote(str(p)) + ") "
            "WHERE decode(key) = 'ARROW:schema'"
        ).fetchall()
        out.add((tuple(columns), tuple(a[0] for a in arrow)))
    return out


def run_ids(con, root):
    runs = root / "runs"
    if not any(runs.glob("run_date=*/*.parquet")):
        return []
    rows = con.execute(
        f"SELECT run_id FROM read_parquet({quote(glob(root, 'runs'))}, hive_partitioning = true) "
        "ORDER BY run_date, run_id"
    ).fetchall()
    return [r[0] for r in rows]


def view(con, name, root, table, ids, extra):
    """A view of the table's rows, ignored columns left out and run ids numbered."""
    source = f"read_parquet({quote(glob(root, table))}, hive_partitioning = true)"
    described = con.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    kept = []
    for column, kind, *_ in described:
        if ignored(column, extra):
            continue
        expr = f'"{column}"'
        if kind == "VARCHAR":
            for n, run_id in enumerate(ids, 1):
                expr = f"replace({expr}, {quote(run_id)}, 'RUN{n}')"
        kept.append(f'{expr} AS "{column}"')
    con.execute(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {', '.join(kept)} FROM {source}")
    return [(c, k) for c, k, *_ in described]


def compare_table(con, before, after, table, ids, extra, say, schema_only=False):
    problems = []
    fb, fa = files(con, before, table), files(con, after, table)
    if not fb or not fa:
        return ["only in AFTER" if fa else "only in BEFORE"] if fb or fa else []
    parts = lambda fs: sorted(f.parent.name for f in fs)  # noqa: E731
    if parts(fb) != parts(fa):
        problems.append(f"files: {parts(fb)} before, {parts(fa)} after")
    sb, sa = schemas(con, fb), schemas(con, fa)
    if sb != sa:
        problems.append("schema differs (Parquet columns or the stored Arrow schema)")
        for s in sb - sa:
            say(f"    before: {s[0]}")
        for s in sa - sb:
            say(f"    after:  {s[0]}")
    db = view(con, "b", before, table, ids[0], extra)
    da = view(con, "a", after, table, ids[1], extra)
    if db != da:
        problems.append(f"DuckDB types differ: {db} before, {da} after")
        return problems
    if schema_only:
        say(f"  {table}: {len(fb)} files, {len(db)} columns")
        return problems
    nb = con.execute("SELECT count(*) FROM b").fetchone()[0]
    na = con.execute("SELECT count(*) FROM a").fetchone()[0]
    only_b = con.execute("SELECT count(*) FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a)").fetchone()[0]
    only_a = con.execute("SELECT count(*) FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM b)").fetchone()[0]
    compared = [c for c, _ in db if not ignored(c, extra)]
    say(f"  {table}: {len(fb)} files, {nb} rows, {len(db)} columns ({len(compared)} compared)")
    if nb != na or only_b or only_a:
        problems.append(f"rows: {nb} before, {na} after; {only_b} only before, {only_a} only after")
        sample = con.execute("SELECT * FROM (SELECT * FROM b EXCEPT ALL SELECT * FROM a) LIMIT 2").fetchall()
        for row in sample:
            say(f"    only before: {str(row)[:300]}")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("before", type=Path)
    ap.add_argument("after", type=Path)
    ap.add_argument("--tables", default="")
    ap.add_argument("--ignore", action="append", default=[])
    ap.add_argument("--schema-only", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    for root in (args.before, args.after):
        if not root.is_dir():
            print(f"{root}: not a folder", file=sys.stderr)
            return 2
    say = (lambda _: None) if args.quiet else print
    con = duckdb.connect()
    ids = (run_ids(con, args.before), run_ids(con, args.after))
    if len(ids[0]) != len(ids[1]):
        print(f"runs: {len(ids[0])} before, {len(ids[1])} after")
    tables = (
        sorted(t for t in args.tables.split(",") if t)
        or sorted(tables_in(args.before) | tables_in(args.after))
    )
    failed = 0
    for table in tables:
        problems = compare_table(con, args.before, args.after, table, ids, set(args.ignore), say, args.schema_only)
        for p in problems:
            print(f"  {table}: DIFFERS: {p}")
        failed += bool(problems)
    if args.schema_only:
        what = "schema"
    else:
        what = "schema and rows (ignored: run ids, *_at, latency_ms, elapsed_ms, config_hash"
        what += "".join(", " + c for c in args.ignore) + ")"
    print(f"{len(tables) - failed} of {len(tables)} tables identical in {what}: {args.before} vs {args.after}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""A year of earlier nights for benches/consortium.sh, made from one analysed consortium night.

Usage: consortium_history.py ENDPOINT BUCKET PREFIX DATE NIGHTS WORKDIR [FIRST]

Reads the night DATE (run id consortium-YYYYMMDD) under s3://BUCKET/PREFIX and writes copies of
it on the nights FIRST..NIGHTS after it (FIRST defaults to 1), each with its own run id (`run_id` rewritten by DuckDB), as
a year of nightly analyses would have left them:

- every table a night reads or lists of earlier runs (runs, run_metrics, trends, alerts,
  probe_metrics), rewritten in full: these are what the cost of history is about;
- member_runs, pair_similarity, families, shared_phrases and the members' runs rows, rewritten
  too (small);
- responses, embeddings and features (a few hundred MB a night), and the members' responses, as
  one-row stand-ins under their real keys: no code path lists or reads another night's, and a
  year of them would not fit in the S3 server's memory. The HTML pages likewise.
"""

import concurrent.futures
import datetime
import os
import pathlib
import sys

import boto3
import duckdb

REWRITTEN = ["runs", "run_metrics", "trends", "alerts", "probe_metrics", "member_runs", "pair_similarity", "families", "shared_phrases"]
STAND_INS = ["responses", "embeddings", "features"]


def main() -> None:
    endpoint, bucket, prefix, date, nights, work = sys.argv[1:7]
    nights = int(nights)
    first = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    start = datetime.date.fromisoformat(date)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    work = pathlib.Path(work)
    src = work / "source"
    run_id = f"consortium-{start:%Y%m%d}"

    # The source night, downloaded once.
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for o in page.get("Contents", []):
            if f"run_date={date}/" in o["Key"] or o["Key"].endswith(f"/{date}.html"):
                keys.append(o["Key"])
    for k in keys:
        local = src / k
        local.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, k, str(local))

    con = duckdb.connect()
    out = work / "generated"
    uploads = []
    stand_in = work / "stand-in.parquet"
    con.execute(f"COPY (SELECT 'stand-in' AS run_id) TO '{stand_in}' (FORMAT parquet)")
    for i in range(first, nights + 1):
        day = start + datetime.timedelta(days=i)
        new_id = f"consortium-{day:%Y%m%d}"
        for k in keys:
            rel = k[len(prefix) + 1 :]
            table = rel.split("/")[0]
            if table == "html":
                continue
            new_rel = rel.replace(f"run_date={date}", f"run_date={day}").replace(run_id, new_id)
            target = out / new_rel
            target.parent.mkdir(parents=True, exist_ok=True)
            member_responses = table == "members" and "/responses/" in rel
            if table in STAND_INS or member_responses:
                uploads.append((stand_in, f"{prefix}/{new_rel}"))
                continue
            if not k.endswith(".parquet"):
                # A member's signed manifest (JSON): read by the coordinator for tonight's
                # night only, so earlier nights carry it as it is.
                uploads.append((src / k, f"{prefix}/{new_rel}"))
                continue
            if table not in REWRITTEN and table != "members":
                continue
            replacement = new_id if table != "members" else None
            sql = f"SELECT * REPLACE ('{replacement}' AS run_id) FROM read_parquet('{src / k}')" if replacement else f"SELECT * FROM read_parquet('{src / k}')"
            con.execute(f"COPY ({sql}) TO '{target}' (FORMAT parquet, COMPRESSION zstd)")
            uploads.append((target, f"{prefix}/{new_rel}"))

    def put(item):
        local, key = item
        s3.upload_file(str(local), bucket, key)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, uploads))
    print(f"nights {first} to {nights}, {len(uploads)} objects")


if __name__ == "__main__":
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    main()

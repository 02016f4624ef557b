"""What tests/consortium.rs needs of the S3 server (moto, on 127.0.0.1) and of DuckDB reading it.

Usage (ENDPOINT is http://127.0.0.1:PORT; keys come from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY):

    s3_tool.py bucket ENDPOINT BUCKET              create a bucket
    s3_tool.py reader ENDPOINT BUCKET              (a server enforcing IAM after 4 requests) create
                                                   a user that may list and read but not write,
                                                   and BUCKET; print its keys as JSON
    s3_tool.py ls ENDPOINT BUCKET PREFIX           every object under PREFIX: JSON [[key, size], ...]
    s3_tool.py grep ENDPOINT BUCKET NEEDLE...      keys of objects whose bytes hold any needle
    s3_tool.py sql ENDPOINT SQL                    run SQL in DuckDB with httpfs pointed at the
                                                   server; print the rows as JSON

DuckDB's httpfs extension cannot be downloaded at run time here: it comes from the PyPI package
duckdb-ext-httpfs (which pins duckdb 1.4.4), loaded from the package's folder.
"""

import json
import os
import pathlib
import sys

import boto3


def client(endpoint, **keys):
    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **keys)


def objects(s3, bucket, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(page.get("Contents", []))
    return out


def duckdb_connection(endpoint):
    import duckdb
    import duckdb_ext

    ext = pathlib.Path(list(duckdb_ext.__path__)[0]) / "extensions"
    con = duckdb.connect()
    con.execute(f"SET extension_directory = '{ext}'")
    con.execute("SET autoinstall_known_extensions = false")
    con.execute("LOAD httpfs")
    host = endpoint.split("://", 1)[1]
    con.execute(
        "CREATE SECRET (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL false, REGION 'us-east-1')",
        [os.environ.get("AWS_ACCESS_KEY_ID", "test"), os.environ.get("AWS_SECRET_ACCESS_KEY", "test"), host],
    )
    return con


def main() -> None:
    command, endpoint = sys.argv[1], sys.argv[2]
    if command == "bucket":
        client(endpoint).create_bucket(Bucket=sys.argv[3])
    elif command == "reader":
        iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1")
        iam.create_user(UserName="reader")
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": "*"}],
        }
        iam.put_user_policy(UserName="reader", PolicyName="read-only", PolicyDocument=json.dumps(policy))
        client(endpoint).create_bucket(Bucket=sys.argv[3])
        print(json.dumps({"id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}))
    elif command == "ls":
        s3 = client(endpoint)
        print(json.dumps([[o["Key"], o["Size"]] for o in objects(s3, sys.argv[3], sys.argv[4])]))
    elif command == "grep":
        s3 = client(endpoint)
        needles = [n.encode() for n in sys.argv[4:]]
        hits = []
        for o in objects(s3, sys.argv[3], ""):
            body = s3.get_object(Bucket=sys.argv[3], Key=o["Key"])["Body"].read()
            if any(n in body for n in needles):
                hits.append(o["Key"])
        print(json.dumps(hits))
    elif command == "sql":
        con = duckdb_connection(endpoint)
        rows = con.sql(sys.argv[3]).fetchall()
        print(json.dumps([list(r) for r in rows], default=str))
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main()

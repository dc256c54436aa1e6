"""The v2 backfill bench's third contender: what a competent Python loader does with pyarrow and
psycopg 3. Each file is read with pyarrow, given the same four columns ams-hub adds (account,
object key, version id, row number), written as CSV by pyarrow's C++ writer and COPYed by
psycopg, committing every N files. Prints {"rows": …, "seconds": …}.

Usage: v2_backfill_pyarrow.py DSN TABLE FILE_LIST FILES_PER_COMMIT
"""
import io
import json
import sys
import time

import psycopg
import pyarrow as pa
import pyarrow.csv as csv
import pyarrow.parquet as pq

dsn, table, file_list, per_commit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
paths = [p for p in open(file_list).read().split("\n") if p]
started = time.monotonic()
rows = 0
with psycopg.connect(dsn) as conn:
    with conn.cursor() as cur:
        for i, path in enumerate(paths):
            t = pq.read_table(path)
            n = t.num_rows
            system = [
                pa.array(["00000000-0000-0000-0000-000000000000"] * n),
                pa.array([path] * n),
                pa.array([f"p{i}"] * n),
                pa.array(range(n), type=pa.int64()),
            ]
            t = pa.Table.from_arrays(system + t.columns,
                                     names=["_hub_account_id", "_object_key", "_version_id", "_row_number"] + t.column_names)
            buf = io.BytesIO()
            csv.write_csv(t, buf, csv.WriteOptions(include_header=False))
            columns = ", ".join('"' + c + '"' for c in t.column_names)
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv)") as copy:
                copy.write(buf.getvalue())
            rows += n
            if (i + 1) % per_commit == 0:
                conn.commit()
        conn.commit()
print(json.dumps({"rows": rows, "seconds": time.monotonic() - started}))

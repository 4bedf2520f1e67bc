"""The reference job of the benchmark, in DuckDB: canonical event CSV -> month-partitioned,
zstd-compressed Parquet, then the monthly counts of queries/counted_events.sql and
monthly_counts.sql over that Parquet. It validates nothing, pseudonymises nothing, keeps no
manifest and renders no report: it is the bare copy refrate's whole `run` is compared with.

Usage: python3 duckdb_job.py 'events/*.csv' OUT_DIR
Prints the number of hospital-months counted (a check that both tools saw the same data).
"""

import sys

import duckdb

csv_glob, out = sys.argv[1], sys.argv[2]
con = duckdb.connect()
types = {
    "hospital_code": "VARCHAR",
    "event_date": "DATE",
    "event_type": "VARCHAR",
    "patient_id": "VARCHAR",
    "department": "VARCHAR",
    "referral_letter": "INTEGER",
    "partner_code": "VARCHAR",
    "partner_related": "INTEGER",
    "ambulance": "INTEGER",
    "after_hours_emergency": "INTEGER",
    "checkup_origin": "INTEGER",
}
con.execute(
    f"""
    COPY (
        SELECT *, strftime(event_date, '%Y-%m') AS month
        FROM read_csv('{csv_glob}', header = true, columns = {types!r})
    ) TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (month), OVERWRITE_OR_IGNORE)
    """
)
rows = con.execute(
    f"""
    WITH e AS (
        SELECT
            hospital_code, month, event_type,
            referral_letter = 1 AS letter, partner_related = 1 AS related,
            ambulance = 1 AS amb, after_hours_emergency = 1 AS ah, checkup_origin = 1 AS chk
        FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true)
    )
    SELECT
        hospital_code, month,
        SUM(CASE WHEN event_type = 'first_visit' THEN 1 ELSE 0 END) AS first_visits,
        SUM(CASE WHEN event_type = 'first_visit' AND amb THEN 1 ELSE 0 END) AS ambulance_first_visits,
        SUM(CASE WHEN event_type = 'first_visit' AND ah THEN 1 ELSE 0 END) AS after_hours_first_visits,
        SUM(CASE WHEN event_type = 'first_visit' AND chk THEN 1 ELSE 0 END) AS checkup_first_visits,
        SUM(CASE WHEN event_type = 'first_visit' AND NOT (amb OR ah OR chk) THEN 1 ELSE 0 END)
            AS initial_patients,
        SUM(CASE WHEN event_type = 'first_visit' AND NOT (amb OR ah OR chk) AND letter AND NOT related
            THEN 1 ELSE 0 END) AS referred_patients,
        SUM(CASE WHEN event_type = 'referral_out' AND NOT related THEN 1 ELSE 0 END)
            AS reverse_referred_patients,
        SUM(CASE WHEN event_type = 'return_visit' AND NOT (amb OR ah) THEN 1 ELSE 0 END) AS return_visits,
        SUM(CASE WHEN event_type = 'first_visit' AND amb THEN 1 ELSE 0 END) AS emergency_patients
    FROM e
    GROUP BY hospital_code, month
    ORDER BY hospital_code, month
    """
).fetchall()
print(len(rows))

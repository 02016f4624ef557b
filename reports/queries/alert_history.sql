-- Every alert ever raised, newest first, most severe first.
-- Run it: hivewatch query alert_history [--output DIR], or in DuckDB after
--   SET VARIABLE hivewatch_out = 'reports';   (the output root; 'reports' when unset)
SET VARIABLE hivewatch_out = coalesce(getvariable('hivewatch_out'), 'reports');
SELECT run_date, run_id,
       regexp_extract(embedder_id, '^[a-z]+') || '-' || left(sha256(embedder_id), 8) AS embedder,
       severity, rule, scope, metric, value, baseline, threshold, message
FROM read_parquet(getvariable('hivewatch_out') || '/alerts/*/*.parquet', hive_partitioning = true)
ORDER BY run_date DESC,
         CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
         rule, scope;

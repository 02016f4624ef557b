-- Refusal rates by model over time (share of probes a model refuses, from the features table's
-- refusal detector), with 95% intervals over probes.
-- Run it: hivewatch query refusal_rates_by_model [--output DIR], or in DuckDB after
--   SET VARIABLE hivewatch_out = 'reports';   (the output root; 'reports' when unset)
SET VARIABLE hivewatch_out = coalesce(getvariable('hivewatch_out'), 'reports');
SELECT run_date,
       regexp_extract(embedder_id, '^[a-z]+') || '-' || left(sha256(embedder_id), 8) AS embedder,
       replace(scope, 'model:', '') AS model, value AS refusal_rate, ci_low, ci_high, n AS probes
FROM read_parquet(getvariable('hivewatch_out') || '/run_metrics/*/*.parquet', hive_partitioning = true)
WHERE scope LIKE 'model:%' AND metric = 'refusal_rate'
ORDER BY embedder, model, run_date;

-- Refusal rates by model over time (share of probes a model refuses, from the features table's
-- refusal detector), with 95% intervals over probes.
SELECT run_date, embedder_id, replace(scope, 'model:', '') AS model, value AS refusal_rate,
       ci_low, ci_high, n AS probes
FROM read_parquet('reports/run_metrics/*/*.parquet', hive_partitioning = true)
WHERE scope LIKE 'model:%' AND metric = 'refusal_rate'
ORDER BY embedder_id, model, run_date;

-- Diversity over time: the overall series the trends watch, with their 95% intervals.
-- n = probes that went into each value, n_models = models.
-- Run it: hivewatch query diversity_over_time [--output DIR], or in DuckDB after
--   SET VARIABLE hivewatch_out = 'reports';   (the output root; 'reports' when unset)
SET VARIABLE hivewatch_out = coalesce(getvariable('hivewatch_out'), 'reports');
SELECT run_date, run_id,
       regexp_extract(embedder_id, '^[a-z]+') || '-' || left(sha256(embedder_id), 8) AS embedder,
       metric, value, ci_low, ci_high, n, n_models
FROM read_parquet(getvariable('hivewatch_out') || '/run_metrics/*/*.parquet', hive_partitioning = true)
WHERE scope = 'overall'
  AND metric IN ('effective_models', 'effective_models_ratio', 'model_vendi_ratio',
                 'homogenization_index', 'family_hhi', 'families')
ORDER BY embedder, metric, run_date, run_id;

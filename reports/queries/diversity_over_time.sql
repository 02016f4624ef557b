-- Diversity over time: the overall series the trends watch, with their 95% intervals.
-- n = probes that went into each value, n_models = models.
SELECT run_date, run_id, embedder_id, metric, value, ci_low, ci_high, n, n_models
FROM read_parquet('reports/run_metrics/*/*.parquet', hive_partitioning = true)
WHERE scope = 'overall'
  AND metric IN ('effective_models', 'effective_models_ratio', 'model_vendi_ratio',
                 'homogenization_index', 'family_hhi', 'families')
ORDER BY embedder_id, metric, run_date, run_id;

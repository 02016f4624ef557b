-- Contagion: each model's adoption of what feeds broadcast, night by night (paired probes only):
-- the share of its answers taking a feed up asked cold and after the feed, the gain with its 95%
-- interval over pairs, injection compliance and the meaning-level gain. No rows without pairs.
-- Run it: hivewatch query adoption_by_model [--output DIR], or in DuckDB after
--   SET VARIABLE hivewatch_out = 'reports';   (the output root; 'reports' when unset)
SET VARIABLE hivewatch_out = coalesce(getvariable('hivewatch_out'), 'reports');
WITH m AS (
    SELECT run_date, run_id, embedder_id, replace(scope, 'model:', '') AS model, metric, value, ci_low, ci_high, n
    FROM read_parquet(getvariable('hivewatch_out') || '/run_metrics/*/*.parquet', hive_partitioning = true)
    WHERE scope LIKE 'model:%'
      AND metric IN ('control_adoption_rate', 'exposed_adoption_rate', 'adoption_gain',
                     'injection_compliance', 'claim_similarity_gain')
)
SELECT run_date,
       regexp_extract(embedder_id, '^[a-z]+') || '-' || left(sha256(embedder_id), 8) AS embedder,
       model,
       max(value) FILTER (WHERE metric = 'control_adoption_rate') AS adopted_cold,
       max(value) FILTER (WHERE metric = 'exposed_adoption_rate') AS adopted_exposed,
       max(value) FILTER (WHERE metric = 'adoption_gain') AS adoption_gain,
       max(ci_low) FILTER (WHERE metric = 'adoption_gain') AS gain_ci_low,
       max(ci_high) FILTER (WHERE metric = 'adoption_gain') AS gain_ci_high,
       max(n) FILTER (WHERE metric = 'adoption_gain') AS pairs,
       max(value) FILTER (WHERE metric = 'injection_compliance') AS injection_compliance,
       max(value) FILTER (WHERE metric = 'claim_similarity_gain') AS claim_similarity_gain
FROM m
GROUP BY run_date, run_id, embedder_id, model
ORDER BY embedder, model, run_date;

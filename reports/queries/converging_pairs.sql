-- The model pairs drawing together most in the latest run: one row per pair, its similarity
-- and its excess similarity (over the night's mean pair similarity: what the pair rule
-- watches), the excess against its baseline, and the Mann-Kendall trend of the excess over
-- the last runs. A pair rising apart from the rest is a suspected lineage or influence.
-- Run it: hivewatch query converging_pairs [--output DIR], or in DuckDB after
--   SET VARIABLE hivewatch_out = 'reports';   (the output root; 'reports' when unset)
SET VARIABLE hivewatch_out = coalesce(getvariable('hivewatch_out'), 'reports');
WITH t AS (
    SELECT * FROM read_parquet(getvariable('hivewatch_out') || '/trends/*/*.parquet', hive_partitioning = true)
    WHERE scope LIKE 'pair:%'
), latest AS (
    SELECT embedder_id, max(run_date) AS run_date FROM t GROUP BY embedder_id
)
SELECT x.run_date,
       regexp_extract(x.embedder_id, '^[a-z]+') || '-' || left(sha256(x.embedder_id), 8) AS embedder,
       replace(x.scope, 'pair:', '') AS pair,
       s.value AS similarity,
       x.value AS excess_similarity,
       x.baseline AS excess_baseline,
       x.delta AS excess_delta,
       x.sen_slope AS excess_slope,
       x.mk_p,
       x.status
FROM t AS x
JOIN latest USING (embedder_id, run_date)
JOIN t AS s ON s.run_id = x.run_id AND s.embedder_id = x.embedder_id AND s.scope = x.scope
           AND s.metric = 'similarity'
WHERE x.metric = 'excess_similarity'
ORDER BY x.delta DESC NULLS LAST, x.value DESC
LIMIT 20;

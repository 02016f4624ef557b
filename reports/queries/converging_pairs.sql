-- The model pairs converging most in the latest run: similarity against its baseline, with the
-- Mann-Kendall trend over the last runs (a rising pair is a suspected lineage or influence).
WITH latest AS (
    SELECT embedder_id, max(run_date) AS run_date
    FROM read_parquet('reports/trends/*/*.parquet', hive_partitioning = true)
    GROUP BY embedder_id
)
SELECT t.run_date, t.embedder_id, replace(t.scope, 'pair:', '') AS pair, t.value AS similarity,
       t.baseline, t.delta, t.pct_change, t.sen_slope, t.mk_p, t.status
FROM read_parquet('reports/trends/*/*.parquet', hive_partitioning = true) AS t
JOIN latest USING (embedder_id, run_date)
WHERE t.scope LIKE 'pair:%'
ORDER BY t.delta DESC NULLS LAST, t.value DESC
LIMIT 20;

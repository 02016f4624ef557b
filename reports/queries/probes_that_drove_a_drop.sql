-- The probes whose diversity (model Vendi ratio) fell most between the last two runs of each
-- embedder, with their prompts: where to read the responses to see what converged.
-- Run it: hivewatch query probes_that_drove_a_drop [--output DIR], or in DuckDB after
--   SET VARIABLE hivewatch_out = 'reports';   (the output root; 'reports' when unset)
SET VARIABLE hivewatch_out = coalesce(getvariable('hivewatch_out'), 'reports');
WITH pm AS (
    SELECT run_date, run_id, embedder_id, probe_id, category, model_vendi_ratio
    FROM read_parquet(getvariable('hivewatch_out') || '/probe_metrics/*/*.parquet', hive_partitioning = true)
), ranked AS (
    SELECT DISTINCT run_date, run_id, embedder_id,
           dense_rank() OVER (PARTITION BY embedder_id ORDER BY run_date DESC, run_id DESC) AS age
    FROM pm
), prompts AS (
    SELECT run_id, probe_id, prompt
    FROM read_parquet(getvariable('hivewatch_out') || '/probes/*/*.parquet', hive_partitioning = true)
)
SELECT regexp_extract(latest.embedder_id, '^[a-z]+') || '-' || left(sha256(latest.embedder_id), 8) AS embedder,
       latest.probe_id, latest.category,
       previous.model_vendi_ratio AS before, latest.model_vendi_ratio AS after,
       latest.model_vendi_ratio - previous.model_vendi_ratio AS change,
       left(prompts.prompt, 80) AS prompt
FROM pm AS latest
JOIN ranked AS rl ON rl.run_id = latest.run_id AND rl.embedder_id = latest.embedder_id AND rl.age = 1
JOIN ranked AS rp ON rp.embedder_id = latest.embedder_id AND rp.age = 2
JOIN pm AS previous
  ON previous.run_id = rp.run_id AND previous.embedder_id = latest.embedder_id
 AND previous.probe_id = latest.probe_id
LEFT JOIN prompts ON prompts.run_id = latest.run_id AND prompts.probe_id = latest.probe_id
ORDER BY change ASC
LIMIT 20;

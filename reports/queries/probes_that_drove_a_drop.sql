-- The probes whose diversity (model Vendi ratio) fell most between the last two runs of each
-- embedder: where to read the responses to see what converged.
WITH pm AS (
    SELECT run_date, run_id, embedder_id, probe_id, category, model_vendi_ratio
    FROM read_parquet('reports/probe_metrics/*/*.parquet', hive_partitioning = true)
), ranked AS (
    SELECT DISTINCT run_date, run_id, embedder_id,
           dense_rank() OVER (PARTITION BY embedder_id ORDER BY run_date DESC, run_id DESC) AS age
    FROM pm
)
SELECT latest.embedder_id, latest.probe_id, latest.category,
       previous.model_vendi_ratio AS before, latest.model_vendi_ratio AS after,
       latest.model_vendi_ratio - previous.model_vendi_ratio AS change
FROM pm AS latest
JOIN ranked AS rl ON rl.run_id = latest.run_id AND rl.embedder_id = latest.embedder_id AND rl.age = 1
JOIN ranked AS rp ON rp.embedder_id = latest.embedder_id AND rp.age = 2
JOIN pm AS previous
  ON previous.run_id = rp.run_id AND previous.embedder_id = latest.embedder_id
 AND previous.probe_id = latest.probe_id
ORDER BY change ASC
LIMIT 20;

-- Every alert ever raised, newest first, most severe first.
SELECT run_date, run_id, embedder_id, severity, rule, scope, metric, value, baseline, threshold,
       message
FROM read_parquet('reports/alerts/*/*.parquet', hive_partitioning = true)
ORDER BY run_date DESC,
         CASE severity WHEN 'critical' THEN 0 WHEN 'warning' THEN 1 ELSE 2 END,
         rule, scope;

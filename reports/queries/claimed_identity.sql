-- Which models claim to be someone else? Every night on which a model's answers to the probes
-- tagged `identity` consistently name another vendor as its maker than the one its endpoint
-- declares (verdict claims_other_identity in table `identity`): what it claims, the model lines
-- it names, how consistent the claim is, on how many probes and answers. Newest first.
-- Run it: hivewatch query claimed_identity [--output DIR], or in DuckDB after
--   SET VARIABLE hivewatch_out = 'reports';   (the output root; 'reports' when unset)
SET VARIABLE hivewatch_out = coalesce(getvariable('hivewatch_out'), 'reports');
SELECT run_date,
       model,
       declared_vendor,
       main_claim AS claims_to_be_made_by,
       array_to_string(model_lines, ', ') AS model_lines,
       round(consistency, 3) AS consistency,
       probes,
       answers,
       rules_version
FROM read_parquet(getvariable('hivewatch_out') || '/identity/*/*.parquet', hive_partitioning = true)
WHERE NOT persona
  AND verdict = 'claims_other_identity'
  AND claimed = main_claim
ORDER BY run_date DESC, model;

-- Which Dagster run a stage row belongs to, so a run that died (its worker killed, a
-- power cut) can have the stages it left 'running' marked failed, and only those.
ALTER TABLE stage_runs ADD COLUMN run_id text;

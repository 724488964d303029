-- DORA for the pipelines marked as deploys (DEPLOY_PIPELINES), per pipeline:
--   deployment frequency: successful deploys per active day;
--   lead time for changes: commit → deployed, where a commit's time is when CI first built it;
--   change failure rate: failed deploys / all finished deploys;
--   time to restore: from a failed deploy to the next successful one, averaged.
WITH deploys AS (
  SELECT
    pipeline, build_id, commit, state, finished_at,
    LEAD(IF(state = 'passed', finished_at, NULL)) OVER (PARTITION BY pipeline ORDER BY finished_at)
      AS next_finished_at,
    LEAD(state) OVER (PARTITION BY pipeline ORDER BY finished_at) AS next_state
  FROM `{dataset}.builds_latest`
  WHERE is_deploy AND state IN ('passed', 'failed')
),
first_seen AS (
  SELECT commit, MIN(created_at) AS first_built_at
  FROM `{dataset}.builds_latest`
  GROUP BY commit
)
SELECT
  d.pipeline,
  COUNTIF(d.state = 'passed') AS deployments,
  SAFE_DIVIDE(COUNTIF(d.state = 'passed'), COUNT(DISTINCT DATE(d.finished_at))) AS deployments_per_day,
  AVG(IF(d.state = 'passed', TIMESTAMP_DIFF(d.finished_at, f.first_built_at, SECOND), NULL)) / 3600
    AS lead_time_hours,
  SAFE_DIVIDE(COUNTIF(d.state = 'failed'), COUNT(*)) AS change_failure_rate,
  AVG(IF(d.state = 'failed' AND d.next_state = 'passed',
         TIMESTAMP_DIFF(d.next_finished_at, d.finished_at, SECOND), NULL)) / 3600
    AS time_to_restore_hours
FROM deploys AS d
LEFT JOIN first_seen AS f USING (commit)
GROUP BY d.pipeline

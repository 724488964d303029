-- Build health per pipeline and day: volume, success rate, p50/p95 duration and wait,
-- and flaky builds (passed only after a job was retried).
SELECT
  pipeline,
  DATE(finished_at) AS day,
  COUNT(*) AS builds,
  COUNTIF(state = 'passed') AS passed,
  COUNTIF(state = 'failed') AS failed,
  SAFE_DIVIDE(COUNTIF(state = 'passed'), COUNTIF(state IN ('passed', 'failed'))) AS success_rate,
  APPROX_QUANTILES(run_s, 100)[OFFSET(50)] AS p50_run_s,
  APPROX_QUANTILES(run_s, 100)[OFFSET(95)] AS p95_run_s,
  APPROX_QUANTILES(wait_s, 100)[OFFSET(50)] AS p50_wait_s,
  APPROX_QUANTILES(wait_s, 100)[OFFSET(95)] AS p95_wait_s,
  COUNTIF(state = 'passed' AND retried_jobs > 0) AS flaky
FROM `{dataset}.builds_latest`
GROUP BY pipeline, day

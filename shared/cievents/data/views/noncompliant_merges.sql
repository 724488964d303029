-- Every merge that was not compliant: the verdict recorded when the PR was merged failed.
-- "Every merge to main last quarter that was not compliant" is then one query:
--   SELECT * FROM noncompliant_merges WHERE target_branch = 'main'
--     AND merged_at >= TIMESTAMP(DATE_TRUNC(DATE_SUB(CURRENT_DATE(), INTERVAL 1 QUARTER), QUARTER))
--     AND merged_at < TIMESTAMP(DATE_TRUNC(CURRENT_DATE(), QUARTER))
SELECT
  scm,
  repository,
  pull_request,
  target_branch,
  source_branch,
  author,
  title,
  url,
  head_sha,
  merge_commit,
  merged_at,
  rule,
  failed_checks,
  checks
FROM `{dataset}.compliance_latest`
WHERE merged AND NOT passed

-- The current verdict of every pull request: its latest row (redelivered rows that the
-- streaming buffer's best-effort dedup let through are removed by insert_id first).
SELECT * EXCEPT (row_rank)
FROM (
  SELECT
    c.*,
    ROW_NUMBER() OVER (
      PARTITION BY scm, repository, pull_request ORDER BY sequence DESC, evaluated_at DESC
    ) AS row_rank
  FROM (
    SELECT * FROM `{dataset}.compliance`
    QUALIFY ROW_NUMBER() OVER (PARTITION BY insert_id ORDER BY ingested_at) = 1
  ) AS c
)
WHERE row_rank = 1

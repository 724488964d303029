-- One row per build: the latest final event wins (the streaming buffer's best-effort dedup can
-- leave a redelivered row behind; this view removes it by insert_id, then keeps the last state).
SELECT * EXCEPT (row_rank)
FROM (
  SELECT
    b.*,
    ROW_NUMBER() OVER (PARTITION BY build_id ORDER BY finished_at DESC, ingested_at DESC) AS row_rank
  FROM (
    SELECT * FROM `{dataset}.builds`
    QUALIFY ROW_NUMBER() OVER (PARTITION BY insert_id ORDER BY ingested_at) = 1
  ) AS b
)
WHERE row_rank = 1

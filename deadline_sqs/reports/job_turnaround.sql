-- Job turnaround (submitted to completed) percentiles in minutes, by pool, of the jobs completed in the period.
-- Jobs without a submission or completion time (Deadline's placeholder dates) are left out.
WITH notifications AS (
    SELECT *
    FROM (
        SELECT n.*, row_number() OVER (PARTITION BY event_id ORDER BY event_id) AS arrival
        FROM {table} n
        WHERE dt >= date_format({since}, '%Y-%m-%d') AND notified_at >= {since} AND kind = 'job'
    ) delivered
    WHERE arrival = 1
),
completed AS (
    SELECT pool, date_diff('second', submitted_at, completed_at) AS seconds
    FROM (
        SELECT pool, submitted_at, completed_at,
               row_number() OVER (PARTITION BY job_id ORDER BY notified_at DESC) AS newest
        FROM notifications
        WHERE status = 'Completed' AND submitted_at IS NOT NULL AND completed_at IS NOT NULL
    ) ranked
    WHERE newest = 1
)
SELECT
    pool,
    count(*) AS jobs,
    round(approx_percentile(seconds, 0.5) / 60.0, 1) AS p50_minutes,
    round(approx_percentile(seconds, 0.9) / 60.0, 1) AS p90_minutes,
    round(approx_percentile(seconds, 0.99) / 60.0, 1) AS p99_minutes,
    round(max(seconds) / 60.0, 1) AS max_minutes
FROM completed
GROUP BY pool
ORDER BY jobs DESC, pool

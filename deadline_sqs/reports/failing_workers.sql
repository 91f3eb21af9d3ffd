-- Failed tasks by worker, with the distinct jobs they belong to, most failures first.
-- A failure is a task notification whose status is Failed; a job's name comes from its newest
-- notification in the period, else the job id stands for it.
WITH notifications AS (
    SELECT *
    FROM (
        SELECT n.*, row_number() OVER (PARTITION BY event_id ORDER BY event_id) AS arrival
        FROM {table} n
        WHERE dt >= date_format({since}, '%Y-%m-%d') AND notified_at >= {since}
    ) delivered
    WHERE arrival = 1
),
jobs AS (
    SELECT job_id, job_name
    FROM (
        SELECT job_id, job_name, row_number() OVER (PARTITION BY job_id ORDER BY notified_at DESC) AS newest
        FROM notifications
        WHERE kind = 'job'
    ) ranked
    WHERE newest = 1
)
SELECT
    t.worker_name AS worker,
    count(*) AS failed_tasks,
    count(DISTINCT t.job_id) AS jobs,
    array_join(array_sort(array_agg(DISTINCT coalesce(j.job_name, t.job_id))), ', ') AS job_names,
    date_trunc('second', min(t.notified_at)) AS first_failure,
    date_trunc('second', max(t.notified_at)) AS last_failure
FROM notifications t
LEFT JOIN jobs j ON j.job_id = t.job_id
WHERE t.kind = 'task' AND t.status = 'Failed'
GROUP BY 1
ORDER BY 2 DESC, 3 DESC, 1

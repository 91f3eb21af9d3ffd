-- Tasks failed and requeued per job: the jobs whose tasks had to render more than once, most retries first.
-- Failed: a stop with status Failed; requeued: a stop that put the task back in the queue (status Queued).
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
    SELECT job_id, job_name, user_name
    FROM (
        SELECT job_id, job_name, user_name,
               row_number() OVER (PARTITION BY job_id ORDER BY notified_at DESC) AS newest
        FROM notifications
        WHERE kind = 'job'
    ) ranked
    WHERE newest = 1
)
SELECT
    t.job_id,
    coalesce(j.job_name, t.job_id) AS job_name,
    coalesce(j.user_name, '(unknown)') AS user_name,
    count(DISTINCT CASE WHEN t.status = 'Failed' THEN t.task_id END) AS tasks_failed,
    count(CASE WHEN t.status = 'Failed' THEN 1 END) AS failures,
    count(DISTINCT CASE WHEN t.status = 'Queued' THEN t.task_id END) AS tasks_requeued,
    count(CASE WHEN t.status = 'Queued' THEN 1 END) AS requeues
FROM notifications t
LEFT JOIN jobs j ON j.job_id = t.job_id
WHERE t.kind = 'task' AND t.notification_name = 'StoppedTaskNotification' AND t.status IN ('Failed', 'Queued')
GROUP BY t.job_id, j.job_name, j.user_name
ORDER BY failures DESC, requeues DESC, t.job_id

-- Render hours by user, department, plugin and pool, per day (of the task's stop notification).
-- Every stopped task attempt counts, failed and requeued ones too: the farm rendered them.
-- A task's user and department come from its job's newest notification in the same period;
-- a job none of whose notifications arrived in it yet shows as "(unknown)".
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
    SELECT job_id, user_name, department, plugin_name, pool
    FROM (
        SELECT job_id, user_name, department, plugin_name, pool,
               row_number() OVER (PARTITION BY job_id ORDER BY notified_at DESC) AS newest
        FROM notifications
        WHERE kind = 'job'
    ) ranked
    WHERE newest = 1
)
SELECT
    t.dt AS day,
    coalesce(j.user_name, '(unknown)') AS user_name,
    CASE WHEN j.job_id IS NULL THEN '(unknown)' ELSE coalesce(j.department, '(none)') END AS department,
    coalesce(j.plugin_name, '(unknown)') AS plugin,
    coalesce(j.pool, '(unknown)') AS pool,
    count(*) AS task_attempts,
    round(sum(t.render_seconds) / 3600.0, 2) AS render_hours
FROM notifications t
LEFT JOIN jobs j ON j.job_id = t.job_id
WHERE t.kind = 'task' AND t.notification_name = 'StoppedTaskNotification' AND t.render_seconds IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
ORDER BY 1, 7 DESC, 2, 3, 4, 5

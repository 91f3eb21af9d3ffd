-- Jobs failed in the last day (or since --since), newest first, with their user, plugin and error count.
-- default since: 1d
WITH notifications AS (
    SELECT *
    FROM (
        SELECT n.*, row_number() OVER (PARTITION BY event_id ORDER BY event_id) AS arrival
        FROM {table} n
        WHERE dt >= date_format({since}, '%Y-%m-%d') AND notified_at >= {since} AND kind = 'job'
    ) delivered
    WHERE arrival = 1
)
SELECT job_id, job_name, user_name, department, plugin_name AS plugin, pool, errors, notified_at AS failed_at
FROM (
    SELECT n.*, row_number() OVER (PARTITION BY job_id ORDER BY notified_at DESC) AS newest
    FROM notifications n
    WHERE status = 'Failed'
) ranked
WHERE newest = 1
ORDER BY failed_at DESC, job_id

"""Deadline notification bodies, shaped exactly like the documented examples.

The documentation shows one job notification (JobStoppedNotification, "Job was
suspended") and the Started/Stopped task notifications. For the other job events
it lists (completed, failed, deleted) it shows no example, so the names used here
are this project's assumption, documented in docs/local-pipeline.md: JobCompletedNotification,
JobFailedNotification and JobDeletedNotification, with the same body shape.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from notification_processor.timestamps import TICKS_PER_SECOND, deadline_form

PROTOCOL = "1.1"
# Deadline writes its other date fields in the Repository's local time with an offset.
STUDIO_OFFSET = timezone(timedelta(hours=-5))
UNSET_DATETIME = "0001-01-01T00:00:00Z"

STARTED_TASK = "StartedTaskNotification"
STOPPED_TASK = "StoppedTaskNotification"

# Job event -> (NotificationInfo.Name, JobStatus, StatusReason)
JOB_EVENTS = {
    "suspended": ("JobStoppedNotification", "Suspended", "Job was suspended"),
    "completed": ("JobCompletedNotification", "Completed", "Job was completed"),
    "failed": ("JobFailedNotification", "Failed", "Job has failed"),
    "deleted": ("JobDeletedNotification", "Deleted", "Job was deleted"),
}

# Task stop -> (TaskDetails.Status, StopReason template)
TASK_STOPS = {
    "completed": ("Completed", "The Task '{task}' was set to Completed."),
    "failed": ("Failed", "The Task '{task}' was set to Failed."),
    "suspended": ("Suspended", "The Task '{task}' was set to Suspended."),
    "requeued": ("Queued", "The Task '{task}' was requeued automatically."),
}


def notification_timestamp(moment: datetime) -> str:
    """The Timestamp field: UTC, seven fractional digits, 'Z' (e.g. 2020-08-11T00:59:40.1512266Z)."""
    return timestamp_from_ticks(moment.replace(microsecond=0), moment.microsecond * 10)


def timestamp_from_ticks(epoch: datetime, ticks: int) -> str:
    """The Timestamp `ticks` x 100 ns after `epoch` (a whole second), exact to the tick."""
    return deadline_form(int(epoch.timestamp()) * TICKS_PER_SECOND + ticks)


def studio_datetime(moment: datetime | None) -> str:
    """The other date fields: local time, milliseconds, offset (e.g. 2020-08-13T15:44:07.377-05:00)."""
    if moment is None:
        return UNSET_DATETIME
    return moment.astimezone(STUDIO_OFFSET).isoformat(timespec="milliseconds")


def render_time(seconds: float) -> str:
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def job_notification(job: dict, event: str, timestamp: str) -> dict:
    """A job notification. `job` holds the JobDetails values (JobStatus is set from `event`)."""
    name, status, reason = JOB_EVENTS[event]
    details = {
        "JobID": job["JobID"],
        "JobName": job["JobName"],
        "UserName": job["UserName"],
        "Department": job.get("Department", ""),
        "BatchName": job.get("BatchName", ""),
        "Group": job.get("Group", "none"),
        "Pool": job.get("Pool", "none"),
        "NumberOfErrors": job.get("NumberOfErrors", 0),
        "FrameRange": job["FrameRange"],
        "NumberOfTasks": job["NumberOfTasks"],
        "JobPriority": job.get("JobPriority", 50),
        "JobConcurrentTasks": job.get("JobConcurrentTasks", 1),
        "JobSubmitDateTime": job["JobSubmitDateTime"],
        "JobStartedDateTime": job.get("JobStartedDateTime", UNSET_DATETIME),
        "JobCompletedDateTime": job.get("JobCompletedDateTime", UNSET_DATETIME),
        "JobStatus": status,
        "PluginName": job["PluginName"],
        "ExtraInfo": {f"ExtraInfo{i}": job.get("ExtraInfo", {}).get(f"ExtraInfo{i}", "") for i in range(10)},
    }
    return {
        "JobDetails": details,
        "NotificationInfo": {"Name": name, "StatusReason": reason},
        "Timestamp": timestamp,
        "PROTOCOL": PROTOCOL,
    }


def task_notification(task: dict, timestamp: str, stop: str | None = None) -> dict:
    """A StartedTaskNotification (stop=None) or a StoppedTaskNotification with a TASK_STOPS reason.

    `task` holds the TaskDetails values that vary (JobID, TaskID, FrameRange, WorkerName, ...).
    """
    task_name = f"{task['JobID']}_{task['TaskID']}"
    if stop is None:
        status = "Rendering"
        info = {"Name": STARTED_TASK}
    else:
        status, reason = TASK_STOPS[stop]
        info = {"Name": STOPPED_TASK, "StopReason": reason.format(task=task_name)}
    details = {
        "JobID": task["JobID"],
        "TaskID": task["TaskID"],
        "Name": f"{task['TaskID']}_{task['FrameRange']}",
        "FrameRange": task["FrameRange"],
        "Status": status,
        "NumberOfErrors": task.get("NumberOfErrors", 0),
        "WorkerName": task["WorkerName"],
        "Progress": task.get("Progress", "0 %"),
        "RenderStatus": "",
        "TaskStartDateTime": task["TaskStartDateTime"],
        "RenderStartTime": task.get("RenderStartTime", task["TaskStartDateTime"]),
        "RenderTime": task.get("RenderTime", "00:00:00"),
        "CompletedDateTime": task.get("CompletedDateTime", UNSET_DATETIME),
        "WaitingToStart": False,
        "OutputFileSizeBytes": task.get("OutputFileSizeBytes", 0),
        "AverageRamUsageBytes": task.get("AverageRamUsageBytes", 0),
        "AverageRamUtilizationPercent": task.get("AverageRamUtilizationPercent", 0),
        "PeakRamUsageBytes": task.get("PeakRamUsageBytes", 0),
        "PeakRamUtilizationPercent": task.get("PeakRamUtilizationPercent", 0),
        "AverageCpuUtilizationPercent": task.get("AverageCpuUtilizationPercent", 0),
        "PeakCPUUtilizationPercent": task.get("PeakCPUUtilizationPercent", 0),
        "AverageSwapBytes": 0,
        "PeakSwapBytes": 0,
        "UsedCPUClocks": task.get("UsedCPUClocks", 0),
        "AvailableCPUClocks": task.get("AvailableCPUClocks", 0),
        "Properties": {**{f"Ex{i}": "" for i in range(10)}, "ExDic": {}},
        "ExtraElements": {},
    }
    return {
        "Source": task["Source"],
        "TaskDetails": details,
        "NotificationInfo": info,
        "WorkerInfo": {"AWSInfo": {}, "CPUs": task.get("CPUs", 12)},
        "Timestamp": timestamp,
        "PROTOCOL": PROTOCOL,
    }

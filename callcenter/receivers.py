"""The core app's answers to django-q2's signals (connected in CallcenterConfig.ready)."""

import logging

logger = logging.getLogger("callcenter.tasks")


def log_task_start(sender, func, task, **kwargs) -> None:
    # With more than one cluster on a broker a task may run twice (a copy delivered
    # twice, a task re-queued after its timeout); its id in the log shows when that happened.
    logger.info("task started: %s %s", task.get("id"), task.get("name"))

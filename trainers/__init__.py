"""What runs inside a training process: the event-log writer and framework integrations.

Importing this package imports neither torch nor tensorflow; framework code lives in
modules named for what they hold and is imported only when used.
"""
from trainers.runlog import EVENT_LOG_NAME, RunLog

__all__ = ["EVENT_LOG_NAME", "RunLog"]

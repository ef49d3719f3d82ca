"""Queue names the web app enqueues to and the worker listens on, in priority order."""

SYNC_QUEUE = "sync"
ANALYSIS_QUEUE = "analysis"
DOWNLOAD_QUEUE = "downloads"
DEFAULT_QUEUE = "default"

ALL_QUEUES = (SYNC_QUEUE, ANALYSIS_QUEUE, DOWNLOAD_QUEUE, DEFAULT_QUEUE)

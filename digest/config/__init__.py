"""The configuration: ``schedules.yaml`` and the ``DIGEST_*`` environment (PRODUCT §10, §11).

:mod:`digest.config.settings` holds the records (each setting's one default, its YAML key and
its environment variable), :mod:`digest.config.load` reads and validates them, and
:mod:`digest.config.sources` says what a source is. The rest of the code imports from here.
"""

from __future__ import annotations

from digest.config.load import DEFAULT_CONFIG_NAME, find_config_path, load_config
from digest.config.settings import (
    Config,
    DigestConfig,
    DkimConfig,
    InboundConfig,
    LogConfig,
    LogFormat,
    LogLevel,
    SchedulerConfig,
    Security,
    SenderConfig,
    SmtpConfig,
    WebConfig,
    is_local_url,
    is_store_url,
)

SECURITY = tuple(s.value for s in Security)
LOG_FORMATS = tuple(f.value for f in LogFormat)
LOG_LEVELS = tuple(level.value for level in LogLevel)

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "SECURITY",
    "Config",
    "DigestConfig",
    "DkimConfig",
    "InboundConfig",
    "LogConfig",
    "LogFormat",
    "LogLevel",
    "SchedulerConfig",
    "Security",
    "SenderConfig",
    "SmtpConfig",
    "WebConfig",
    "find_config_path",
    "is_local_url",
    "is_store_url",
    "load_config",
]

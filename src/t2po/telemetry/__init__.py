"""Telemetry: metric loggers, rollout metrics, transcripts, progress bars, plots, reports.

Presentation only (style habit 3): nothing here changes what training computes. Plotting
imports matplotlib lazily, so importing this package stays cheap.
"""

from t2po.telemetry.loggers import (
    DEFAULT_CONSOLE_COLUMNS,
    LOGGERS,
    ConsoleTableLogger,
    EpisodeLogger,
    JsonlLogger,
    LoggerFactory,
    MetricsLogger,
    MultiLogger,
    make_logger,
    make_loggers,
    register_logger,
    truncate_jsonl,
)
from t2po.telemetry.metrics import mean_std, rollout_metrics, safe_mean, task_type_success
from t2po.telemetry.plots import (
    Band,
    final_mean_std,
    interpolated_band,
    markdown_table,
    plot_grid,
    plot_metric,
    read_metrics_jsonl,
    seed_band,
)
from t2po.telemetry.progress import LineProgress, ProgressBar, progress
from t2po.telemetry.transcripts import (
    TranscriptWriter,
    episode_record,
    forced_spans,
    read_transcripts,
    render_transcript_markdown,
)

__all__ = [
    "DEFAULT_CONSOLE_COLUMNS",
    "LOGGERS",
    "Band",
    "ConsoleTableLogger",
    "EpisodeLogger",
    "JsonlLogger",
    "LineProgress",
    "LoggerFactory",
    "MetricsLogger",
    "MultiLogger",
    "ProgressBar",
    "TranscriptWriter",
    "episode_record",
    "final_mean_std",
    "forced_spans",
    "interpolated_band",
    "make_logger",
    "make_loggers",
    "markdown_table",
    "mean_std",
    "plot_grid",
    "plot_metric",
    "progress",
    "read_metrics_jsonl",
    "read_transcripts",
    "register_logger",
    "render_transcript_markdown",
    "rollout_metrics",
    "safe_mean",
    "seed_band",
    "task_type_success",
    "truncate_jsonl",
]

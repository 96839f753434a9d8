"""Evaluation suites: any model (local or API) as an agent on families × splits × episodes."""

from t2po.evaluation.runner import EvalAborted, SuiteResult, run_suite
from t2po.evaluation.suite import EvalCell, episode_key, plan_suite
from t2po.evaluation.summary import format_table, summarise, write_summary

__all__ = [
    "EvalAborted",
    "EvalCell",
    "SuiteResult",
    "episode_key",
    "format_table",
    "plan_suite",
    "run_suite",
    "summarise",
    "write_summary",
]

"""t2po: multi-turn RL for LLM agents with T2PO exploration control and GiGPO updates."""

__version__ = "0.1.0"

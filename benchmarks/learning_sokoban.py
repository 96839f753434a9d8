"""Learning study on text Sokoban: cold start, then GiGPO alone vs T2PO (GiGPO + TTI + TDS).

The protocol of ``_family_study.py``: one shared cold start (the quickstart's: a slipping
expert teacher, ``rft.expert_slip``, then multi-turn SFT), then for each RL seed both methods
train from it with the same config except the exploration controls. The cold-start model and
every final checkpoint play the same held-out rooms with the same evaluation sampling seeds.

    python benchmarks/learning_sokoban.py --shard 0/2 &   # two processes share the runs ...
    python benchmarks/learning_sokoban.py --shard 1/2     # ... (about 25 minutes each)
    python benchmarks/learning_sokoban.py --reuse         # then aggregate: evaluate, table
    python benchmarks/learning_sokoban.py --quick         # about a minute: checks the script

Prints a table, writes ``benchmarks/results/learning_sokoban.json`` and a PNG plot, and ends
with ``RESULT learning_sokoban cold_start=<s> gigpo=<s> t2po=<s>`` (held-out success on
``--final-eval-tasks`` rooms, mean over seeds).
"""

from __future__ import annotations

from _family_study import Study, parse_args, run

STUDY = Study(
    name="learning_sokoban",
    family="sokoban",
    preset="quickstart.yaml",
    title="Sokoban",
    memory_window=0,
)

if __name__ == "__main__":
    run(STUDY, parse_args(STUDY, __doc__ or ""))

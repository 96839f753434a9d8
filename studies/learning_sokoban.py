"""Learning study on text Sokoban: cold start, then GiGPO alone vs T2PO (GiGPO + TTI + TDS).

The protocol of ``_family_study.py``: one shared cold start (the quickstart's: expert
episodes, then multi-turn SFT; ``--expert-slip`` makes the expert a fallible teacher), then
for each RL seed both methods train from it with the same config except the exploration
controls. The cold-start model and every final checkpoint play the same held-out rooms with
the same evaluation sampling seeds.

    S="python studies/learning_sokoban.py --final-eval-tasks 512"
    $S --shard 0/2 & $S --shard 1/2    # two processes share the runs (about 25 minutes each)
    $S --reuse                         # then aggregate: evaluate the cold start, table, plot
    python studies/learning_sokoban.py --quick    # about a minute: checks the script

Prints a table, writes ``runs/studies/learning_sokoban/learning_sokoban.json`` and a PNG plot beside
it (untracked; ``--out studies/results/learning_sokoban.json`` updates the committed result) and
ends with
``RESULT learning_sokoban cold_start=<s> gigpo=<s> t2po=<s>`` (held-out success on
``--final-eval-tasks`` rooms, mean over seeds).
"""

from __future__ import annotations

from _family_study import Study, parse_args, run

STUDY = Study(
    name="learning_sokoban",
    family="sokoban",
    preset="sokoban_quickstart.yaml",
    title="Sokoban",
    memory_window=0,
)

if __name__ == "__main__":
    run(STUDY, parse_args(STUDY, __doc__ or ""))

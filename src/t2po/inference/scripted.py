"""``ScriptedSampler``: a sampler that answers from a script, for tests and dry runs.

It "tokenises" one id per character (``ord``), so ``len(token_ids) == len(text)``, gives
every token log-prob 0.0, no forced tokens, and finish reason ``stop``. Uncertainty is 0.0
per token unless ``uncertainty_fn`` says otherwise (note that all-zero ``M_t`` gives the
same ``Φ`` every turn, so TDS would resample every turn; TDS tests pass ``uncertainty_fn``).
Every call is recorded in ``calls`` so tests can count them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from t2po.inference.base import SamplingParams
from t2po.types import FinishReason, Message, SamplerOutput

ResponseFn = Callable[[Sequence[Message], int], str]
UncertaintyFn = Callable[[str, int], float | Sequence[float]]


def render_prompt(messages: Sequence[Message]) -> str:
    """A plain-text rendering of a chat prompt (what ``prompt_token_ids`` encodes)."""
    return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages) + "<|assistant|>\n"


def char_ids(text: str) -> list[int]:
    """One id per character."""
    return [ord(c) for c in text]


class ScriptedSampler:
    """Implements :class:`t2po.inference.base.Sampler` from a fixed script.

    ``call_index`` below is the running index of the response being produced, counted over
    all ``generate`` calls of this sampler (0, 1, 2, ...).
    """

    def __init__(
        self,
        responses: Sequence[str] | None = None,
        *,
        fn: ResponseFn | None = None,
        uncertainty_fn: UncertaintyFn | None = None,
    ) -> None:
        """
        Args:
            responses: texts handed out in order, cycling.
            fn: ``fn(prompt_messages, call_index) -> text``; use instead of ``responses``.
            uncertainty_fn: ``uncertainty_fn(text, call_index)`` gives ``M_t`` for the
                response: one float for every token, or a list of one per character.
        """
        if (responses is None) == (fn is None):
            raise ValueError("give exactly one of responses=[...] or fn=...")
        if responses is not None and len(responses) == 0:
            raise ValueError("responses must not be empty")
        self.responses = list(responses) if responses is not None else None
        self.fn = fn
        self.uncertainty_fn = uncertainty_fn
        self.calls: list[list[list[Message]]] = []  # one entry per generate call: its prompts
        self.params: list[SamplingParams] = []  # the params of each call
        self.n_responses = 0

    @property
    def prompts(self) -> list[list[Message]]:
        """Every prompt seen, over all calls, in order."""
        return [p for call in self.calls for p in call]

    def generate(
        self, prompts: Sequence[Sequence[Message]], params: SamplingParams
    ) -> list[SamplerOutput]:
        """One scripted response per prompt, in order."""
        self.calls.append([list(p) for p in prompts])
        self.params.append(params)
        return [self._respond(p) for p in prompts]

    def _respond(self, messages: Sequence[Message]) -> SamplerOutput:
        index = self.n_responses
        self.n_responses += 1
        if self.fn is not None:
            text = self.fn(messages, index)
        else:
            assert self.responses is not None
            text = self.responses[index % len(self.responses)]
        n = len(text)
        uncertainty = [0.0] * n
        if self.uncertainty_fn is not None:
            value = self.uncertainty_fn(text, index)
            if isinstance(value, int | float):
                uncertainty = [float(value)] * n
            else:
                uncertainty = [float(v) for v in value]
                if len(uncertainty) != n:
                    raise ValueError(
                        f"uncertainty_fn gave {len(uncertainty)} values for {n} characters"
                    )
        return SamplerOutput(
            text=text,
            prompt_token_ids=char_ids(render_prompt(messages)),
            token_ids=char_ids(text),
            logprobs=[0.0] * n,
            uncertainty=uncertainty,
            forced_mask=[False] * n,
            tti_fired_at=None,
            finish_reason=FinishReason.stop,
        )

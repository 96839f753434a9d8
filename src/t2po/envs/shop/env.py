"""The web shop as a text Gymnasium environment (``t2po/Shop-v0``), WebShop-compatible.

``reset(seed=s, options={"split": "train" | "test"})`` picks the task: a goal written from a
target product of that split (generated catalog) or a human goal (WebShop files). The
instruction is in ``info["task"]``; the observation is the current page (``text_view``), which
is also ``info["anchor"]``. Actions: ``search[query]`` and ``click[target]`` (``session``);
``info["admissible_actions"]`` lists them each turn. An invalid action changes nothing, gives
reward 0 and ``info["action_is_valid"] = False`` (the rollout engine applies the penalty).

Reward: 0 until ``Buy Now``; then ``10 × won + score`` where ``score`` is WebShop's purchase
score in [0, 1] and ``won`` means ``score == 1.0``. The episode then terminates; it is truncated
after ``max_steps`` steps. ``info`` always carries the score and its parts (``score``,
``r_type``, ``r_att``, ``r_option``, ``r_price``, ``title_score``; 0 before a purchase).

Constructor arguments: ``num_products`` (default 10,000 generated; all WebShop products) and
``catalog_seed`` (generated catalog), or ``webshop_dir`` (a folder with WebShop's JSON files,
see ``webshop_files``); the catalog and its index are built once per process, so making an env
per episode is cheap.
"""

from __future__ import annotations

from typing import Any

from gymnasium import Env, spaces

from t2po.envs.shop.instructions import goal_for
from t2po.envs.shop.reward import Score
from t2po.envs.shop.session import MAX_ACTION_CHARS, PageKind, ShopSession
from t2po.envs.shop.store import Shop, get_shop
from t2po.envs.shop.text_view import render_text

WIN_REWARD = 10.0
MAX_OBS_CHARS = 100_000
SCORE_KEYS = ("score", "r_type", "r_att", "r_option", "r_price", "title_score")


class ShopEnv(Env[dict[str, Any], str]):
    """Find and buy what the instruction asks for; text pages and text actions."""

    metadata = {"render_modes": ["ansi"], "render_fps": 1}

    def __init__(
        self,
        num_products: int | None = None,
        catalog_seed: int = 0,
        webshop_dir: str | None = None,
        max_steps: int = 15,
        default_split: str = "train",
        render_mode: str | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {max_steps}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode {render_mode!r} is not one of {self.metadata['render_modes']}"
            )
        self.shop: Shop = get_shop(catalog_seed, num_products, webshop_dir)
        catalog = self.shop.catalog
        self.splits = tuple(sorted(set(catalog.split_targets) | set(catalog.fixed_goals)))
        if default_split not in self.splits:
            raise ValueError(f"default_split {default_split!r} is not one of {self.splits}")
        self.default_split = default_split
        self.max_steps = max_steps
        self.render_mode = render_mode
        self.observation_space = spaces.Dict(
            {"text": spaces.Text(max_length=MAX_OBS_CHARS, charset=self.shop.catalog.charset)}
        )
        self.action_space = spaces.Text(max_length=MAX_ACTION_CHARS)
        self._session: ShopSession | None = None
        self._steps = 0
        self._split = default_split
        self._task_seed: int | None = None

    @property
    def session(self) -> ShopSession:
        """The current episode's state machine."""
        if self._session is None:
            raise RuntimeError("call reset() before using the environment")
        return self._session

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        super().reset(seed=seed)
        split = str((options or {}).get("split") or self.default_split)
        if split not in self.splits:
            raise ValueError(f"unknown split {split!r}; this shop has {', '.join(self.splits)}")
        self._task_seed = int(seed) if seed is not None else int(self.np_random.integers(2**31))
        self._split = split
        self._session = ShopSession(self.shop, goal_for(self.shop.catalog, split, self._task_seed))
        self._steps = 0
        return self._observation(), self._info()

    def step(self, action: str) -> tuple[dict[str, Any], float, bool, bool, dict[str, Any]]:
        session = self.session
        self._steps += 1
        result = session.step(action) if isinstance(action, str) else None
        valid = bool(result is not None and result.valid)
        reward = 0.0
        if valid and session.score is not None and session.kind is PageKind.done:
            reward = WIN_REWARD * float(self._won()) + session.score.score
        terminated = session.kind is PageKind.done
        truncated = not terminated and self._steps >= self.max_steps
        info = self._info()
        info["action_is_valid"] = valid
        if not valid:
            info["error"] = result.error if result is not None else "the action must be text"
        return self._observation(), float(reward), terminated, truncated, info

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return render_text(self.session.view())
        return None

    def _won(self) -> bool:
        score = self.session.score
        return score is not None and score.score >= 1.0 - 1e-9

    def _observation(self) -> dict[str, Any]:
        return {"text": render_text(self.session.view())}

    def _info(self) -> dict[str, Any]:
        session = self.session
        parts: dict[str, Any] = dict.fromkeys(SCORE_KEYS, 0.0)
        if session.score is not None:
            parts.update(_score_parts(session.score))
        text = render_text(session.view())
        return {
            "anchor": text,
            "won": self._won(),
            "task": session.goal.instruction,
            "task_type": session.goal.category or "shop",
            "admissible_actions": session.available_actions(),
            "split": self._split,
            "seed": self._task_seed,
            "target_asin": session.goal.asin,
            "steps": self._steps,
            **parts,
        }


def _score_parts(score: Score) -> dict[str, float]:
    values = score.as_info()
    return {key: float(values[key]) for key in SCORE_KEYS}

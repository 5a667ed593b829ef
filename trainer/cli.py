"""`python -m trainer`: train a policy on a gymnasium environment and publish it as a new version.

Mistakes (bad flags, impossible environment options, an environment that cannot be
trained here, an unwritable artifact root) end with one line on stderr and a non-zero exit,
checked before any training time is spent. TensorFlow is imported only after those checks,
so `--help` and errors answer at once.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import os
import secrets
import signal
import sys
import tempfile
from pathlib import Path

from policy_artifacts import ArtifactError, check_policy_name, list_versions
from trainer.config import Hyperparameters, hyperparameter_fields
from trainer.tasks.base import TaskError
from trainer.tasks.registry import add_task_flags, create_task, env_kwargs_with_flags

EXIT_USAGE, EXIT_FAILURE, EXIT_INTERRUPTED = 2, 1, 130
MAX_SEED = 2**31 - 1  # numpy and TensorFlow both take it, and seed + 1 too
# Inclusive bounds of every hyperparameter: beyond them a run is a mistake, not an experiment.
BOUNDS = {
    "n_envs": (1, 4096), "n_steps": (1, 10_000), "budget": (1, 10**10), "eval_every": (1, 10**6),
    "decay_env_steps": (0, 10**10), "hidden_units": (0, 4096), "hidden_layers": (1, 8),
    "eval_episodes": (2, 10_000), "gamma": (0.0, 1.0), "gae_lambda": (0.0, 1.0),
    "epsilon_start": (0.0, 1.0), "epsilon_final": (0.0, 1.0), "entropy_coef": (0.0, 10.0),
    "entropy_coef_final": (0.0, 10.0), "sampled_target": (0.0, 1.0),
    "learning_rate_final": (0.0, 1.0), "sde_sample_freq": (-1, 10_000), "max_grad_norm": (0.0, 1e6),
    "log_std_init": (-5.0, 2.0),
}
POSITIVE = {"actor_learning_rate": 10.0, "critic_learning_rate": 10.0, "reward_scale": 1e6, "target": 1.0}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except None ("decided by the env or the task"), which the help text explains."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one line on stderr, not the whole usage text."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"error: {message} (see --help)\n")


def finite_float(text: str) -> float:
    """Returns text as a float, refusing NaN and infinities (argparse's float takes them)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def json_object(text: str) -> dict:
    """Returns text parsed as a JSON object (of JSON values: NaN and infinities are refused)."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as exc:  # JSONDecodeError is one
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise argparse.ArgumentTypeError("not valid JSON: nested too deeply") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, e.g. '{{\"is_rainy\": true}}', got {text!r}")
    if not _all_finite(value):  # 1e999 parses as inf, which the manifest could not record
        raise argparse.ArgumentTypeError("numbers must be finite (1e999 overflows to infinity)")
    return value


def _all_finite(value) -> bool:
    """Returns False if any number in a parsed JSON value is infinite (NaN is refused earlier)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            return False
    return True


_TYPES = {"int": int, "float": finite_float, "bool": bool}


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m trainer",
        description="Train an A2C policy with Keras on a gymnasium environment with discrete actions "
                    "and publish it as a new version.",
        formatter_class=_HelpFormatter,
    )
    env = parser.add_argument_group("environment")
    env.add_argument("--env", default="FrozenLake-v1",
                     help="gymnasium env id: FrozenLake-v1, Taxi-v4, CliffWalking-v1, CliffWalkingSlippery-v1, "
                          "CartPole-v1, Acrobot-v1, or any env with Discrete actions and Discrete (with a "
                          "transition table) or float Box observations; module:id imports the module that "
                          "registers the id first, as gymnasium.make does.")
    env.add_argument("--env-kwargs", type=json_object, metavar="JSON",
                     help="Keyword arguments for gymnasium.make as a JSON object, e.g. '{\"is_rainy\": true}'; "
                          "recorded in the manifest. An env's own flags below may not set the same keyword.")
    env.add_argument("--max-episode-steps", type=int,
                     help="Step limit (default: gymnasium's registered one, or the task's own where it has none).")
    env.add_argument("--target-return", type=finite_float,
                     help="Box envs: stop when the mean greedy return reaches this (default: the env's "
                          "reward_threshold; none = train the whole budget).")

    add_task_flags(parser)

    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=int, help="Seed for a repeatable run (default: a random one, recorded).")
    run.add_argument(
        "--artifact-root", type=Path, default=Path(_environment("ARTIFACT_ROOT") or "artifacts"),
        help="Where versions are published (env POLICY_ARTIFACT_ROOT).",
    )
    run.add_argument("--policy", help="Policy name (default: from the env and its options, e.g. taxi, cartpole).")
    run.add_argument("--quiet", action="store_true", help="No progress bar; print only the result line.")
    run.add_argument("--tensorboard", type=Path, metavar="DIR", default=None,
                     help="Write TensorBoard scalars (SB3's: episode return and length, losses, entropy, explained "
                          "variance, learning rates, evaluation) under DIR/<policy>-<seed>, each update.")
    run.add_argument("--if-missing", action="store_true",
                     help="Do nothing if the policy already has a version (for first-start jobs).")

    hyper = parser.add_argument_group("hyperparameters (defaults depend on the env; listed for tabular envs)")
    for name, type_name, default, help_text in hyperparameter_fields():
        flag = "--" + name.replace("_", "-")
        # None means "the task's default": each env family has its own tuned values.
        if type_name == "bool":
            hyper.add_argument(flag, action=argparse.BooleanOptionalAction, default=None,
                               help=f"{help_text} (default per env; tabular: {default})")
        elif type_name.startswith("Literal["):
            hyper.add_argument(flag, choices=ast.literal_eval(type_name.removeprefix("Literal")), default=None,
                               help=f"{help_text} (default per env; tabular: {default})")
        else:
            hyper.add_argument(flag, type=_TYPES[type_name], default=None,
                               help=f"{help_text} (default per env; tabular: {default})")
    return parser


def _environment(name: str) -> str | None:
    """Returns POLICY_<name>, else the deprecated LAKE_<name> (saying so on stderr), else None."""
    if f"POLICY_{name}" not in os.environ and f"LAKE_{name}" in os.environ:
        print(f"warning: LAKE_{name} is deprecated: set POLICY_{name}", file=sys.stderr)
        return os.environ[f"LAKE_{name}"]
    return os.environ.get(f"POLICY_{name}")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def hyperparameters(defaults: Hyperparameters, args: argparse.Namespace) -> Hyperparameters:
    """Returns the task's defaults with the flags given, or raises ValueError naming the first bad one."""
    given = {name: getattr(args, name) for name, *_ in hyperparameter_fields() if getattr(args, name) is not None}
    hp = dataclasses.replace(defaults, **given)
    for name, (low, high) in BOUNDS.items():
        if not low <= getattr(hp, name) <= high:
            raise ValueError(f"{_flag(name)} must be between {low} and {high}, got {getattr(hp, name)}")
    for name, high in POSITIVE.items():
        if not 0.0 < getattr(hp, name) <= high:
            raise ValueError(f"{_flag(name)} must be above 0 and at most {high:g}, got {getattr(hp, name)}")
    return hp


def _check_seed(flag: str, value: int | None) -> None:
    if value is not None and not 0 <= value <= MAX_SEED:
        raise ValueError(f"{flag} must be between 0 and {MAX_SEED}, got {value}")


def _check_writable(root: Path, what: str = "artifact root") -> None:
    """Raises OSError with a clear message unless a file could be written under root."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=root, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise OSError(f"{what} {root} is not writable: {exc.strerror or exc}") from None


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _check_seed("--seed", args.seed)
        env_kwargs = env_kwargs_with_flags(args, args.env, args.env_kwargs or {})
        task = create_task(args.env, env_kwargs, max_episode_steps=args.max_episode_steps,
                           target_return=args.target_return)
        hp = hyperparameters(task.hyperparameters, args)
        task.distribution.for_training(hp)  # gSDE needs Box actions: said now, not after TensorFlow loads
        policy = check_policy_name(args.policy if args.policy is not None else task.default_policy_name)
        _check_writable(args.artifact_root)
        if args.tensorboard is not None:
            _check_writable(args.tensorboard, "--tensorboard")
    except (TaskError, ValueError, ArtifactError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE if not isinstance(exc, OSError) else EXIT_FAILURE
    existing = list_versions(args.artifact_root, policy)
    if args.if_missing and existing:
        print(f"{policy} already has version {existing[-1]} under {args.artifact_root}: not training (--if-missing)")
        return 0
    seed = args.seed if args.seed is not None else secrets.randbelow(MAX_SEED)

    # SIGTERM (docker stop, kill) takes the same path as Ctrl-C: stop, publish nothing.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        task.check_solvable()
        # Only now: these import Keras, and so TensorFlow, which every check above runs without.
        from trainer.a2c import Progress, train
        from trainer.progress import ProgressBar
        from trainer.publish import publish_result

        board = None
        if args.tensorboard is not None:
            from trainer.tensorboard import TensorBoardLog

            board = TensorBoardLog(args.tensorboard, f"{policy}-seed{seed}")
        with ProgressBar(total=hp.budget, enabled=not args.quiet) as bar:
            def progress(update: Progress) -> None:
                bar.update(update)
                if board:
                    board.evaluation(update)

            result = train(task, hp, seed=seed, on_progress=progress, on_update=board.update if board else None)
        if board:
            board.close()
        published = publish_result(args.artifact_root, policy, task, hp, seed, result)
    except TaskError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted: nothing was published", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ArtifactError, OSError) as exc:
        print(f"error: could not publish: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"published {published.policy} version {published.version} at {published.path}: "
          f"{describe(result)}")
    return 0


def describe(result) -> str:
    """Returns the result line's figures, e.g. 'greedy success_rate 1.000, sampled 0.901 (best 1.000), ...'."""
    e = result.evaluation
    spread = f" +- {e.stderr:.3f}" if e.stderr is not None else ""
    best = "" if e.best is None else f" ({'best possible' if e.metric != 'mean_return' else 'threshold'} {e.best:.3f})"
    sampled = "" if e.sampled_value is None else f", sampled {e.sampled_value:.3f}"
    return (f"greedy {e.metric.replace('_', ' ')} {e.value:.3f}{spread}{sampled}{best}, "
            f"{result.env_steps} env steps in {result.seconds:.1f} s, stopped on {result.stopped_because}")

"""`python -m trainer.republish`: publishes a version again, as a new version with its serving form.

Box-observation versions published before the service stopped carrying TensorFlow have no
`actor.onnx`/`critic.onnx`, and the service refuses them with this command in the reason.
It reads the version through the artifact gate (paths, caps, hashes), loads both `.keras`
files with Keras (safe mode on), and publishes the same models and manifest fields as the
next version, with the ONNX serving form checked against Keras. The old version is left as
it is.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import keras

from policy_artifacts import ACTOR_FILE, CRITIC_FILE, ArtifactError, ArtifactLimits, publish_version, read_verified
from policy_artifacts.manifest import EPISODE_FILE
from policy_artifacts.store import first_line
from trainer.serving_form import write_policy_files


def republish(root: Path, policy: str, version: int):
    """Returns the new PublishedVersion; raises ArtifactError if the old one cannot be read."""
    verified = read_verified(root, policy, version, ArtifactLimits())
    models = {}
    with tempfile.TemporaryDirectory(prefix="republish-") as scratch:
        for name in (ACTOR_FILE, CRITIC_FILE):
            path = Path(scratch) / name
            path.write_bytes(verified.model_bytes[name])
            try:
                models[name] = keras.saving.load_model(path, compile=False, safe_mode=True)
            except Exception as exc:
                raise ArtifactError(f"{verified.where}: {name} cannot be loaded safely: {first_line(exc)}") from None
    manifest = verified.manifest
    fields = manifest.model_dump(exclude={"schema_version", "policy", "version", "files"})

    def write_files(directory: Path) -> None:
        write_policy_files(directory, models[ACTOR_FILE], models[CRITIC_FILE], manifest.observation_space)
        if verified.episode_gif is not None:
            (directory / EPISODE_FILE).write_bytes(verified.episode_gif)

    return publish_version(root, policy, write_files, fields)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.republish", description=__doc__.splitlines()[0])
    parser.add_argument("--artifact-root", required=True, type=Path, help="The artifact root holding the version.")
    parser.add_argument("--policy", required=True, help="The policy's name.")
    parser.add_argument("--version", required=True, type=int, help="The version to publish again.")
    args = parser.parse_args(argv)
    try:
        published = republish(args.artifact_root, args.policy, args.version)
    except ArtifactError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"published {published.policy} version {published.version} (version {args.version} with its serving form)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where the sandbox keeps its state: one JSON file (written atomically) and a lock, in one directory."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from braindump_cli.errors import BdError

STATE_FILE = "state.json"
LOCK_FILE = "lock"
STATE_VERSION = 1


def sandbox_dir(env: dict[str, str] | None = None) -> Path:
    """`$BD_SANDBOX_DIR`, else `$XDG_STATE_HOME/braindump/sandbox`, else `~/.local/state/braindump/sandbox`."""
    env = dict(os.environ) if env is None else env
    explicit = env.get("BD_SANDBOX_DIR")
    if explicit:
        return Path(explicit).expanduser().resolve()
    xdg = env.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "state"
    return base / "braindump" / "sandbox"


def load_state(directory: Path) -> dict[str, Any]:
    """The recorded components (`{"components": {name: entry}}`); empty if nothing was started."""
    path = directory / STATE_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"schema_version": STATE_VERSION, "components": {}}
    except (OSError, ValueError) as e:
        raise BdError(
            f"cannot read the sandbox state {path}: {e}",
            hint=f"stop its servers by hand and remove {directory}, then run `bd sandbox up`",
        ) from e
    if not isinstance(data, dict) or not isinstance(data.get("components"), dict):
        raise BdError(f"{path} is not a bd sandbox state file", hint=f"remove {directory} by hand")
    return data


def save_state(directory: Path, state: dict[str, Any]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (STATE_FILE + ".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    tmp.replace(directory / STATE_FILE)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the sandbox lock: two `up`/`down` runs at once would race for the same pids and ports."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK_FILE).open("a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as e:
            raise BdError(
                f"another `bd sandbox up` or `down` is running on {directory}",
                hint="wait for it to finish, then run the command again",
            ) from e
        try:
            yield
        finally:
            if not (directory / STATE_FILE).exists():
                # nothing recorded (a failed first `up`, or `down`): leave no lock or empty dir behind
                (directory / LOCK_FILE).unlink(missing_ok=True)
                with contextlib.suppress(OSError):  # other files live there too: leave them
                    directory.rmdir()
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)

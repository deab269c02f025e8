"""Engine profiles: how the StatefulSet's server and each Job run on an engine's image.

A Database picks its engine with `spec.engine`. Without it the engine is inferred from the image:
`postgres` when the image's repository name (its last path segment, without registry, tag or
digest) is `postgres`, as in `postgres:16.4`, `docker.io/library/postgres:16.4-alpine` or
`mirror.example.com/library/postgres:16`; `hook` for anything else.

* `hook`: the generic contract. Every Job runs `bd-database-hook <action>` from the Database's
  image with the ConfigMap and Secret as environment; the image decides what the server does.
* `postgres`: the official `postgres` image exactly as published (docker-library/postgres), no
  custom image and no hook. The scripts are POSIX sh using only what that image ships: sh,
  `date`/`ls`/`grep`/`sort`/`tail`/`expr`, and PostgreSQL's programs, which its PATH carries.

Pure: plain dicts, no Kubernetes client. The scripts take every value from the environment (the
ConfigMap and Secret through `envFrom`, and the profile's own `env`), so command and args never
hold a secret, and they contain neither `$(` nor `$$`, which the kubelet would expand in command
and args.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Obj = dict[str, Any]

ENGINE_HOOK = "hook"
ENGINE_POSTGRES = "postgres"
ENGINES = (ENGINE_POSTGRES, ENGINE_HOOK)
# The command every Job container of the `hook` engine runs; the image provides it.
HOOK_COMMAND = "bd-database-hook"

DATA_MOUNT = "/var/lib/database"  # the StatefulSet's volumeClaimTemplate `data`
BACKUP_MOUNT = "/var/backups/database"  # the PersistentVolumeClaim `<db>-backups`
PGDATA = f"{DATA_MOUNT}/pgdata"  # a subdirectory: a volume's root may hold lost+found
# uid/gid of the `postgres` account in the official images (Debian: 999, Alpine: 70); initdb
# and postgres refuse root, and fsGroup makes the volumes writable for it.
POSTGRES_UID = 999
POSTGRES_UID_ALPINE = 70
# The init Job waits this many times 2 s for the server (it starts together with the StatefulSet).
WAIT_TRIES = 150


def split_image(image: str) -> tuple[str, str | None]:
    """`registry:5000/team/pg:16.4@sha256:..` -> (`registry:5000/team/pg`, `16.4`); no tag -> None."""
    ref = image.split("@", 1)[0]
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    return ref, None


def infer_engine(image: str) -> str:
    """The documented rule: repository name `postgres` -> `postgres`, anything else -> `hook`."""
    repository = split_image(image)[0]
    return ENGINE_POSTGRES if repository.rsplit("/", 1)[-1] == "postgres" else ENGINE_HOOK


def resolve_engine(engine: str | None, image: str) -> str:
    """`spec.engine` when set, else the engine inferred from `spec.image`."""
    return engine or infer_engine(image)


@dataclass(frozen=True)
class PodParts:
    """One container and the pod-level fields it needs (volumes, securityContext)."""

    container: Obj
    pod: Obj


class EngineProfile(Protocol):
    name: str

    def server(self, *, image: str, port: int, env_from: list[Obj]) -> PodParts:
        """The StatefulSet's container (named `database`) with its volume mount `data`."""
        ...

    def job(self, action: str, *, image: str, env_from: list[Obj], env: Mapping[str, str], claim: str) -> PodParts:
        """The container of one Job: `init`, `backup`, `snapshot` or `upgrade`."""
        ...

    def keeps_backups(self) -> bool:
        """Whether the operator creates the backup volume (`<db>-backups`) the Jobs write to."""
        ...

    def major_upgrade_refusal(self, from_image: str, to_image: str) -> str | None:
        """Why a change of major version is refused, or None when the upgrade Job handles it."""
        ...


def _env(values: Mapping[str, str]) -> list[Obj]:
    return [{"name": k, "value": v} for k, v in values.items()]


class HookProfile:
    """The generic contract: the image provides `bd-database-hook`."""

    name = ENGINE_HOOK

    def server(self, *, image: str, port: int, env_from: list[Obj]) -> PodParts:
        container = {
            "name": "database",
            "image": image,
            "ports": [{"name": "db", "containerPort": port, "protocol": "TCP"}],
            "envFrom": env_from,
            "volumeMounts": [{"name": "data", "mountPath": DATA_MOUNT}],
        }
        return PodParts(container, {})

    def job(self, action: str, *, image: str, env_from: list[Obj], env: Mapping[str, str], claim: str) -> PodParts:
        container = {
            "name": action,
            "image": image,
            "command": [HOOK_COMMAND],
            "args": [action],
            "envFrom": env_from,
            "env": _env({"BD_ACTION": action, **env}),
        }
        return PodParts(container, {})

    def keeps_backups(self) -> bool:
        return False

    def major_upgrade_refusal(self, from_image: str, to_image: str) -> str | None:
        return None


# --- PostgreSQL on the official image ----------------------------------------------------------

# Connection settings for libpq from the ConfigMap and Secret (envFrom); never in args.
_PG_CLIENT_ENV = 'export PGHOST="$DB_PRIMARY_HOST" PGPORT="$DB_PORT" PGUSER="$DB_USER" PGPASSWORD="$DB_PASSWORD"\n'
_PG_WAIT = f"""tries=0
until pg_isready -q -d postgres; do
  tries=`expr "$tries" + 1`
  if [ "$tries" -ge {WAIT_TRIES} ]; then
    echo "bd: PostgreSQL at $PGHOST:$PGPORT did not accept connections ({WAIT_TRIES} tries, 2 s apart)" >&2
    exit 1
  fi
  sleep 2
done
"""
_PG_INIT = """psql -X -q -v ON_ERROR_STOP=1 -d postgres -v dbname="$DB_NAME" <<'SQL'
SELECT format('CREATE DATABASE %I', :'dbname')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'dbname')
\\gexec
SQL
echo "bd: database $DB_NAME is present"
"""
# One archive per run, named <database>-<UTC time>.dump (custom format: pg_restore reads it);
# written as .partial first so a failed run never leaves a file that looks complete.
_PG_DUMP = """mkdir -p "$dir"
stamp=`date -u +%Y%m%dT%H%M%SZ`
while [ -e "$dir/$DB_NAME-$stamp.dump" ]; do
  sleep 1
  stamp=`date -u +%Y%m%dT%H%M%SZ`
done
file="$dir/$DB_NAME-$stamp.dump"
if ! pg_dump --format=custom --file="$file.partial" --dbname="$DB_NAME"; then
  rm -f "$file.partial"
  exit 1
fi
mv "$file.partial" "$file"
echo "bd: wrote $file"
"""
_PG_RETENTION = """keep="$BD_BACKUP_RETENTION"
ls -1 "$dir" | grep -E "^$DB_NAME-[0-9]{8}T[0-9]{6}Z[.]dump$" | sort -r | tail -n "+`expr "$keep" + 1`" |
while read -r old; do
  rm -f "$dir/$old"
  echo "bd: removed $dir/$old (keeping the newest $keep)"
done
"""
_PG_SCRIPTS = {
    "init": _PG_CLIENT_ENV + _PG_WAIT + _PG_INIT,
    "backup": _PG_CLIENT_ENV + _PG_WAIT + 'dir="$BD_BACKUP_DIR/backups"\n' + _PG_DUMP + _PG_RETENTION,
    "snapshot": _PG_CLIENT_ENV + _PG_WAIT + 'dir="$BD_BACKUP_DIR/snapshots"\n' + _PG_DUMP,
    "upgrade": _PG_CLIENT_ENV
    + _PG_WAIT
    + 'echo "bd: dump before the roll from $BD_FROM_IMAGE to $BD_TO_IMAGE"\n'
    + 'dir="$BD_BACKUP_DIR/upgrades"\n'
    + _PG_DUMP,
}
# First start on an empty volume: initdb with the Secret's user and password (read from a file,
# never an argument), password authentication for every TCP client. Then postgres in the
# foreground as the container's main process, on spec.port, TCP only.
_PG_SERVER = """if [ ! -s "$PGDATA/PG_VERSION" ]; then
  pwfile=`mktemp`
  printf '%s\\n' "$DB_PASSWORD" > "$pwfile"
  initdb --username="$DB_USER" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \\
    --encoding=UTF8 --pgdata="$PGDATA"
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
fi
exec postgres -D "$PGDATA" -p "$DB_PORT" -c listen_addresses='*' -c unix_socket_directories=''
"""
# Probes: the server accepts connections on its port (pg_isready needs no password).
_PG_READY = 'pg_isready -q -h 127.0.0.1 -p "$DB_PORT" -U "$DB_USER" -d postgres'


def script(action: str) -> str:
    """The shell script of one PostgreSQL Job (`init`, `backup`, `snapshot`, `upgrade`) or `server`."""
    body = _PG_SERVER if action == "server" else _PG_SCRIPTS[action]
    return "set -eu\n" + body


def postgres_uid(image: str) -> int:
    tag = split_image(image)[1] or ""
    return POSTGRES_UID_ALPINE if "alpine" in tag else POSTGRES_UID


def _security(image: str) -> Obj:
    uid = postgres_uid(image)
    return {"runAsUser": uid, "runAsGroup": uid, "fsGroup": uid, "runAsNonRoot": True}


def _probe(period: int, failures: int) -> Obj:
    return {
        "exec": {"command": ["sh", "-c", _PG_READY]},
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    }


def _major(image: str) -> str | None:
    tag = split_image(image)[1] or ""
    head = tag.split(".", 1)[0].split("-", 1)[0]
    return head if head.isdigit() else None


class PostgresProfile:
    """The official `postgres` image: the server, and Jobs built from its client programs."""

    name = ENGINE_POSTGRES

    def server(self, *, image: str, port: int, env_from: list[Obj]) -> PodParts:
        container = {
            "name": "database",
            "image": image,
            "command": ["sh", "-c", script("server")],
            "ports": [{"name": "db", "containerPort": port, "protocol": "TCP"}],
            "envFrom": env_from,
            "env": _env({"PGDATA": PGDATA}),
            "volumeMounts": [{"name": "data", "mountPath": DATA_MOUNT}],
            # initdb on a fresh volume takes a while: liveness starts once the server answered.
            "startupProbe": _probe(5, 60),
            "readinessProbe": _probe(5, 3),
            "livenessProbe": _probe(10, 6),
        }
        return PodParts(container, {"securityContext": _security(image)})

    def job(self, action: str, *, image: str, env_from: list[Obj], env: Mapping[str, str], claim: str) -> PodParts:
        values = {"BD_ACTION": action, **env}
        container: Obj = {
            "name": action,
            "image": image,
            "command": ["sh", "-c", script(action)],
            "args": [action],  # $0 of the script: names the action in sh's own messages
            "envFrom": env_from,
        }
        pod: Obj = {"securityContext": _security(image)}
        if action != "init":
            values["BD_BACKUP_DIR"] = BACKUP_MOUNT
            container["volumeMounts"] = [{"name": "backups", "mountPath": BACKUP_MOUNT}]
            pod["volumes"] = [{"name": "backups", "persistentVolumeClaim": {"claimName": claim}}]
        container["env"] = _env(values)
        return PodParts(container, pod)

    def keeps_backups(self) -> bool:
        return True

    def major_upgrade_refusal(self, from_image: str, to_image: str) -> str | None:
        old, new = _major(from_image), _major(to_image)
        if old is None or new is None or old == new:
            return None
        return (
            f"PostgreSQL major upgrade {from_image} -> {to_image} refused: the postgres engine rolls minor "
            f"versions only (a stock image holds one major version, so pg_upgrade cannot run, and a "
            f"dump-and-restore in place would lose what is written after the dump). Restore a backup "
            f"into a new Database on {to_image} (docs/operator.md), or set spec.image back to {from_image}"
        )


PROFILES: dict[str, EngineProfile] = {ENGINE_HOOK: HookProfile(), ENGINE_POSTGRES: PostgresProfile()}


def profile(engine: str) -> EngineProfile:
    return PROFILES[engine]

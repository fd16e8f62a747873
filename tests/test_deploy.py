"""The deployment kit (deploy/) and the operator's guide (docs/operations.md) against the real
tools and the real command line: systemd-analyze on every unit, the crontab line run by sh
with its lock held, every DIGEST_* variable documented, every quoted command a real one.

A missing tool skips its test, unless DIGEST_REQUIRE_TOOLS is set (CI sets it: there a
missing tool is a failure, not a silent pass).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
from apscheduler.triggers.cron import CronTrigger

from digest.cli import cli
from digest.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "operations.md"
UNITS = sorted(p for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))
SERVICES = [p for p in UNITS if p.suffix == ".service"]

#: The layout docs/operations.md sets up; the tests swap each path for a temporary one.
INSTALLED_DIGEST = "/opt/digest/.venv/bin/digest"
STATE_DIR = "/var/lib/digest"
ENV_FILE = "/etc/digest/digest.env"
CONFIG_FILE = "/etc/digest/schedules.yaml"

#: Shell words after which a word is a command name (``sudo digest``, ``a && digest``).
COMMAND_PRECEDERS = frozenset({"|", "||", "&&", ";", "(", "exec", "sudo", "then", "do", "--"})
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_OPERATOR = re.compile(r"[();<>|&]+")
_VARIABLE = re.compile(r"\bDIGEST_[A-Z][A-Z0-9_]*\b")

#: The Debian package of each program the tests run.
PACKAGES = {"systemd-analyze": "systemd", "flock": "util-linux"}


def tool(name: str) -> str:
    """The path of the program ``name``; skips when it is missing, fails if CI needs it."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("DIGEST_REQUIRE_TOOLS"):
            pytest.fail(f"{name} is not installed, and DIGEST_REQUIRE_TOOLS is set")
        pytest.skip(f"{name} is not installed (Debian: apt-get install {PACKAGES[name]})")
    return path


def venv_digest() -> Path:
    """The ``digest`` executable of the environment running the tests."""
    path = Path(sys.prefix) / "bin" / "digest"
    assert path.is_file(), f"{path} is missing: run make install"
    return path


# systemd units ---------------------------------------------------------------------------


@pytest.fixture
def unit_dir(tmp_path: Path) -> Path:
    """deploy/'s units in a temp dir, ExecStart on this venv's digest (verify wants it to exist)."""
    for unit in UNITS:
        text = unit.read_text(encoding="utf-8").replace(INSTALLED_DIGEST, str(venv_digest()))
        (tmp_path / unit.name).write_text(text, encoding="utf-8")
    return tmp_path


def test_every_unit_passes_systemd_analyze_verify(unit_dir: Path) -> None:
    analyze = tool("systemd-analyze")
    # Verified together, so that each timer finds its service next to it. verify exits 0 on
    # a misspelt key or a bad value and only warns, so any line naming our units fails too.
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(str(unit_dir / u.name) for u in UNITS)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = result.stdout + result.stderr
    complaints = [line for line in output.splitlines() if any(u.name in line for u in UNITS)]
    assert result.returncode == 0 and not complaints, output


def test_verify_would_catch_a_misspelt_setting(unit_dir: Path) -> None:
    analyze = tool("systemd-analyze")
    unit = unit_dir / "digest-serve.service"
    unit.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSytem=strict"))
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=30
    )
    assert "ProtectSytem" in result.stdout + result.stderr


def test_each_timer_has_its_service() -> None:
    timers = [u for u in UNITS if u.suffix == ".timer"]
    assert timers
    for timer in timers:
        assert timer.with_suffix(".service").exists(), f"{timer.name} starts a missing service"


def test_services_stay_hardened(unit_dir: Path) -> None:
    analyze = tool("systemd-analyze")
    # --threshold is the exposure level x 10: fails if any unit scores worse than 2.0 ("OK").
    result = subprocess.run(
        [
            analyze,
            "security",
            "--offline=true",
            "--threshold=20",
            *(str(unit_dir / s.name) for s in SERVICES),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    overall = [line for line in result.stdout.splitlines() if "Overall exposure" in line]
    assert result.returncode == 0, "\n".join(overall) or result.stderr
    assert len(overall) == len(SERVICES)


def unit_settings(unit: Path) -> dict[str, list[str]]:
    """Each ``Key=value`` of a unit file; a key may repeat (SystemCallFilter=)."""
    settings: dict[str, list[str]] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith(("#", ";", "[")):
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_timer_fires_on_every_quarter_hour_without_delay() -> None:
    analyze = tool("systemd-analyze")
    settings = unit_settings(DEPLOY / "digest-send.timer")
    assert "RandomizedDelaySec" not in settings
    assert settings["Persistent"] == ["true"]
    (calendar,) = settings["OnCalendar"]
    result = subprocess.run(
        [analyze, "calendar", "--iterations=5", "--base-time=2025-11-26 06:50 UTC", calendar],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, "TZ": "UTC"},
    )
    fires = re.findall(r"(\d\d:\d\d:\d\d) UTC", result.stdout)
    assert fires == ["07:00:00", "07:15:00", "07:30:00", "07:45:00", "08:00:00"], result.stdout


def test_shipped_schedules_fall_on_the_timers_quarter_hours() -> None:
    # The windows follow the schedule's minute (plus whole quarter-hour zone offsets): a
    # schedule at minute 10 with a timer at :00/15 would make every reader 10 minutes late.
    config = load_config(ROOT / "schedules.yaml", env={})
    for digest in config.digests:
        minute = digest.schedule.split()[0]
        assert minute.isdigit() and int(minute) % 15 == 0, (digest.name, digest.schedule)


def test_units_that_send_wait_for_the_transactions_in_flight() -> None:
    smtp_timeout = load_config(ROOT / "schedules.yaml", env={}).smtp.timeout
    for name in ("digest-serve.service", "digest-send.service"):
        settings = unit_settings(DEPLOY / name)
        assert settings["KillSignal"] == ["SIGTERM"]
        assert settings["KillMode"] == ["mixed"]
        (stop,) = settings["TimeoutStopSec"]
        assert int(stop.removesuffix("s")) >= 3 * smtp_timeout, name


# crontab -----------------------------------------------------------------------------------


def crontab_entries() -> list[str]:
    """The crontab's job lines (not comments, blank lines or VAR=value settings)."""
    lines = (DEPLOY / "crontab").read_text(encoding="utf-8").splitlines()
    return [
        line
        for line in lines
        if line.strip() and not line.lstrip().startswith("#") and not _ASSIGNMENT.match(line)
    ]


def test_crontab_line_has_five_time_fields_every_quarter_hour() -> None:
    (entry,) = crontab_entries()
    fields = entry.split(None, 5)
    assert len(fields) == 6, entry
    assert "%" not in fields[5], "cron turns % into a newline"
    trigger = CronTrigger.from_crontab(" ".join(fields[:5]), timezone=UTC)
    fire = trigger.get_next_fire_time(None, datetime(2025, 11, 26, 6, 50, tzinfo=UTC))
    fires: list[datetime] = []
    while fire is not None and len(fires) < 5:
        fires.append(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    assert [f.strftime("%H:%M") for f in fires] == ["07:00", "07:15", "07:30", "07:45", "08:00"]


FAKE_DIGEST = """\
#!/bin/sh
echo call >> {dir}/calls
printf '%s\\n' "$@" > {dir}/argv
printf '%s' "$DIGEST_SECRET" > {dir}/secret
pwd > {dir}/cwd
touch {dir}/started
while [ ! -e {dir}/release ]; do sleep 0.02; done
echo "a line on stdout"
echo "a line on stderr" >&2
exit "$(cat {dir}/status)"
"""

FAKE_LOGGER = """\
#!/bin/sh
printf '%s\\n' "$@" > {dir}/logger-args
cat >> {dir}/logged
"""

#: Has every character the env example says needs single quotes.
SECRET = 's3cr$t `x` "q" \\ !'


@pytest.fixture
def cron_job(tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str], Path]]:
    """(argv, env, dir): the crontab command on temp paths, fake digest/logger, cron's env."""
    tool("flock")
    bin_dir, lib = tmp_path / "bin", tmp_path / "lib"
    bin_dir.mkdir()
    lib.mkdir()
    for name, script in (("digest", FAKE_DIGEST), ("logger", FAKE_LOGGER)):
        path = bin_dir / name
        path.write_text(script.format(dir=shlex.quote(str(tmp_path))), encoding="utf-8")
        path.chmod(0o755)
    (tmp_path / "status").write_text("0")
    env_file = tmp_path / "digest.env"
    env_file.write_text(f"DIGEST_SECRET='{SECRET}'\nDIGEST_LOG_FORMAT=keyvalue\n")
    (entry,) = crontab_entries()
    command = entry.split(None, 5)[5]
    for installed, here in (
        (INSTALLED_DIGEST, bin_dir / "digest"),
        (STATE_DIR, lib),
        (ENV_FILE, env_file),
        (CONFIG_FILE, tmp_path / "schedules.yaml"),
    ):
        assert installed in command, installed
        command = command.replace(installed, str(here))
    cron_env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C"}
    yield ["sh", "-c", command], cron_env, tmp_path
    (tmp_path / "release").touch()  # let a copy still waiting finish


def wait_for(path: Path, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def test_crontab_command_runs_digest_once_at_a_time(
    cron_job: tuple[list[str], dict[str, str], Path],
) -> None:
    argv, env, here = cron_job
    first = subprocess.Popen(argv, env=env)
    try:
        wait_for(here / "started")
        lock = here / "lib" / "send-due.lock"
        held = subprocess.run(["flock", "-n", str(lock), "true"], timeout=5)
        assert held.returncode != 0, "the running copy does not hold the lock"
        second = subprocess.run(argv, env=env, timeout=5)
        assert second.returncode == 0
        assert (here / "calls").read_text().count("call") == 1, "a second send started"
        (here / "release").touch()
        assert first.wait(timeout=5) == 0
    finally:
        first.kill()
    argv_seen = (here / "argv").read_text().splitlines()
    assert argv_seen == ["--config", str(here / "schedules.yaml"), "send", "--due"]
    assert (here / "secret").read_text() == SECRET, "the env file is not sourced literally"
    assert (here / "cwd").read_text().strip() == str(here / "lib")
    assert (here / "logger-args").read_text().split() == ["-t", "digest-send"]
    logged = (here / "logged").read_text()
    assert "a line on stdout" in logged and "a line on stderr" in logged
    assert "failed" not in logged


def test_crontab_command_logs_a_failed_run(
    cron_job: tuple[list[str], dict[str, str], Path],
) -> None:
    argv, env, here = cron_job
    (here / "status").write_text("1")
    (here / "release").touch()
    subprocess.run(argv, env=env, timeout=5, check=True)
    assert "digest send --due failed with exit status 1" in (here / "logged").read_text()


# the environment ----------------------------------------------------------------------------


def package_variables() -> set[str]:
    """Every DIGEST_* name the package mentions (config.py reads them; hints name them)."""
    names: set[str] = set()
    for path in (ROOT / "digest").rglob("*.py"):
        names.update(_VARIABLE.findall(path.read_text(encoding="utf-8")))
    return names


def example_settings() -> dict[str, str]:
    text = (DEPLOY / "digest.env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^(DIGEST_[A-Z0-9_]+)=(.*)$", text, flags=re.MULTILINE))


def test_env_example_names_every_variable_the_package_reads() -> None:
    documented = set(example_settings())
    assert "DIGEST_SECRET" in package_variables()
    assert package_variables() - documented == set(), "undocumented in deploy/digest.env.example"
    assert documented - package_variables() == set(), "documented but never read"


def test_env_example_ships_no_secret_and_sources_in_sh() -> None:
    settings = example_settings()
    for secret in ("DIGEST_SECRET", "DIGEST_SMTP_USER", "DIGEST_SMTP_PASSWORD"):
        assert settings[secret] == "", secret
    sourced = subprocess.run(
        ["sh", "-c", 'set -a && . "$0" && env', str(DEPLOY / "digest.env.example")],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
        timeout=5,
        check=True,
    )
    exported = dict(line.split("=", 1) for line in sourced.stdout.splitlines() if "=" in line)
    assert {k: exported.get(k) for k in settings} == settings


# commands quoted in the guide and the kit --------------------------------------------------


def quoted_snippets() -> Iterator[tuple[str, str]]:
    """(where, shell text) for every piece of the guide and the kit that may run digest:
    ```sh code blocks (bare ``` blocks show output) and `inline code` in the guide; in
    deploy/, each line, and only the `inline code` of comment lines (the rest is prose)."""
    text = GUIDE.read_text(encoding="utf-8")
    blocks = re.findall(r"^```(?:sh|bash)\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    for block in blocks:
        yield from ((GUIDE.name, line) for line in block.replace("\\\n", " ").splitlines())
    prose = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    yield from ((GUIDE.name, span) for span in re.findall(r"`([^`\n]+)`", prose))
    for path in sorted(DEPLOY.iterdir()):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("#"):
                yield from ((path.name, span) for span in re.findall(r"`([^`\n]+)`", line))
            else:
                yield path.name, line


def shell_words(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: prose, not a command
        return []


def digest_invocations(text: str) -> Iterator[list[str]]:
    """The arguments of each digest command in a line of shell (also inside ``sh -c '…'``)."""
    words = shell_words(text)
    for i, word in enumerate(words):
        if i > 0 and words[i - 1] == "-c":  # sh -c 'script'
            yield from digest_invocations(word)
            continue
        at_command = i == 0 or words[i - 1] in COMMAND_PRECEDERS or _ASSIGNMENT.match(words[i - 1])
        # ExecStart=/opt/digest/.venv/bin/digest, but not Description=digest newsletter
        if word.rpartition("=")[2].endswith("/bin/digest") or (word == "digest" and at_command):
            args: list[str] = []
            for arg in words[i + 1 :]:
                if _OPERATOR.fullmatch(arg) or arg.startswith("$"):  # "$@": not known here
                    break
                args.append(arg)
            yield args


def usage_problem(args: list[str]) -> str | None:
    """Why click would refuse ``digest ARGS`` (None: it parses). Groups' options are skipped
    by hand, the subcommand's parsed by click itself (types and callbacks included)."""
    command: click.Command = cli
    ctx = click.Context(cli, info_name="digest", **cli.context_settings)
    while isinstance(command, click.Group):
        options = {o: p for p in command.params for o in (*p.opts, *p.secondary_opts)}
        while args and args[0].startswith("-"):
            name, inline, _ = args[0].partition("=")
            param = options.get(name)
            if param is None:
                return f"no option {name} for {ctx.command_path}"
            flag = isinstance(param, click.Option) and (param.is_flag or param.count)
            args = args[1:] if inline or flag else args[2:]
        if not args:
            return None  # digest --version, digest --help
        sub = command.get_command(ctx, args[0])
        if sub is None:
            return f"no command {args[0]!r} in {ctx.command_path}"
        ctx = click.Context(sub, info_name=args[0], parent=ctx)
        command, args = sub, args[1:]
    try:
        command.make_context(ctx.info_name, list(args), parent=ctx.parent)
    except click.exceptions.Exit:
        return None
    except click.BadParameter as exc:
        if isinstance(exc.param and exc.param.type, click.Path) and "not exist" in str(exc):
            return None  # readers.csv: the operator's file, not one on this machine
        return f"{ctx.command_path}: {exc.format_message()}"
    except click.ClickException as exc:
        return f"{ctx.command_path}: {exc.format_message()}"
    return None


def test_every_quoted_digest_command_is_real() -> None:
    found: list[tuple[str, list[str]]] = [
        (where, args) for where, text in quoted_snippets() for args in digest_invocations(text)
    ]
    problems = [
        f"{where}: digest {shlex.join(args)}: {problem}"
        for where, args in found
        if (problem := usage_problem(list(args)))
    ]
    assert problems == []
    # The extraction itself works: the commands the kit cannot do without were seen.
    seen = {(where, " ".join(a for a in args if not a.startswith("/"))) for where, args in found}
    for where, command in (
        ("digest-serve.service", "--config serve"),
        ("digest-web.service", "--config serve --no-scheduler"),
        ("digest-send.service", "--config send --due"),
        ("crontab", "--config send --due"),
        (GUIDE.name, "check --smtp"),
        (GUIDE.name, "history --edition daily-2025-11-26"),
    ):
        assert (where, command) in seen, (where, command)


@pytest.mark.parametrize(
    ("args", "wrong"),
    [
        (["send", "--due", "--digets", "daily"], "no such option"),
        (["sned", "--due"], "no command"),
        (["history", "--edition"], "requires an argument"),
        (["--confg", "x", "check"], "no option"),
        (["subscribers", "ad", "a@example.org"], "no command"),
    ],
)
def test_usage_problem_catches_a_wrong_command(args: list[str], wrong: str) -> None:
    problem = usage_problem(args)
    assert problem is not None and wrong in problem.lower()

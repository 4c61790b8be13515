"""Mutation testing of a sample of mutants (mutmut): print the score, fail below the floor.

mutmut generates every mutant of the modules named in pyproject.toml ([tool.mutmut] only_mutate) and
records which tests reach each function; this script then runs one tenth of the mutants (those whose
number ends in a random digit: every function is sampled alike), within a time budget, and counts a
mutant killed when a test fails on it (or it times out); one that no selected test reaches survives.
Mutants run on SQLite: PostgreSQL and slow tests are left out.
Settings, all optional: MUTATION_SEED (the digit, to repeat a sample), MUTATION_BUDGET_SECONDS (300),
MUTATION_FLOOR (percent killed below which the run fails, 70).
"""

from __future__ import annotations

import fnmatch
import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = str(Path(sys.executable).parent / "mutmut")
SPINNER = tuple("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏")
KILLED = {1, 3, 24, -24, 36, 152, 255}  # a failing test (3: pytest's internal error), or a timeout


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def mutmut(*args: str, budget: float | None = None) -> int:
    """Run mutmut in the project folder; on running out of time, stop it as Ctrl-C would."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "CARBON_TEST_POSTGRES_URL")}
    process = subprocess.Popen(
        [MUTMUT, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        out, _ = process.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        say(f"mutation: time budget of {budget:.0f} s reached; scoring the mutants that ran")
    lines = out.decode(errors="replace").replace("\r", "\n").splitlines()
    kept = [line for line in lines if line.strip() and not line.lstrip().startswith(SPINNER)]
    say("\n".join(kept)[-3000:])
    return process.returncode


def verdicts() -> dict[str, int | None]:
    """Every generated mutant and its exit code (None: not run), from mutmut's own records."""
    found: dict[str, int | None] = {}
    for meta in (ROOT / "mutants").rglob("*.py.meta"):
        found.update(json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"])
    return found


def main() -> int:
    digit = int(os.environ.get("MUTATION_SEED", str(random.SystemRandom().randrange(10)))) % 10
    budget = float(os.environ.get("MUTATION_BUDGET_SECONDS", "300"))
    floor = float(os.environ.get("MUTATION_FLOOR", "70"))
    shutil.rmtree(ROOT / "mutants", ignore_errors=True)
    # One tenth of the mutants, every function's alike: those whose number ends in the seed's digit.
    pattern = f"*__mutmut_*{digit}"
    say(f"mutation: running the mutants matching {pattern} (MUTATION_SEED={digit}), at most {budget:.0f} s")
    mutmut("run", pattern, budget=budget)
    results = verdicts()
    if not results:
        say("mutation: mutmut generated no mutants")
        return 1
    sample = [name for name in results if fnmatch.fnmatchcase(name, pattern)]
    ran = {name: results[name] for name in sample if results[name] is not None}
    killed = sorted(name for name, code in ran.items() if code in KILLED)
    survived = sorted(name for name, code in ran.items() if code not in KILLED)
    score = 100 * len(killed) / len(ran) if ran else 0.0
    record = {
        "seed": digit, "generated": len(results), "sampled": len(sample), "ran": len(ran),
        "killed": len(killed), "score": round(score, 1), "floor": floor, "survived": survived,
    }  # fmt: skip
    (ROOT / "mutants" / "score.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    for name in survived:
        subprocess.run([MUTMUT, "show", name], cwd=ROOT, check=False)
    say(f"mutation score: {score:.1f}% killed ({len(killed)} of {len(ran)} run, {len(sample)} sampled of "
        f"{len(results)}, seed {digit}); floor {floor:.0f}%")  # fmt: skip
    if len(ran) < min(40, len(sample)):
        say("mutation: fewer than 40 mutants ran within the budget: no score to trust")
        return 1
    return 0 if score >= floor else 1


if __name__ == "__main__":
    sys.exit(main())

"""Mosquitto's packet sequences (tests/mqtt_conformance/runner.py) against heraldd's MQTT
listener, and against Debian's Mosquitto 2.0.11 to keep the runner itself honest.

herald must fail exactly the sequences listed in tests/mqtt_conformance/deviations.txt, each
with its reason: a new failure fails the test, and so does a listed one that passes now.
"""

import pathlib
import subprocess

from bounded_wait import seconds
from mosquitto_broker import MOSQUITTO, MosquittoBroker
from mqtt_conformance import runner

DEVIATIONS = pathlib.Path(runner.__file__).with_name("deviations.txt")
ANONYMOUS_MQTT = {"allow_anonymous": True, "anonymous_publish": ["#"],
                  "anonymous_subscribe": ["#"]}
# Debian 12's Mosquitto under the upstream (exact CONNACK) rule, by the version in the group
# names, as ../shared/conformance/mqtt-mosquitto/README.md gives them (its 634 = 222 + 400
# + the 12 sequences of the v3.1, REGRESSIONS and BROKER CHECK groups, which all pass).
MOSQUITTO_VERSION = "2.0.11"
MOSQUITTO_PASSES = {"v3.1.1": [222, 261], "v5.0": [400, 1210], "v3.1": [6, 6], "other": [6, 6]}
MOSQUITTO_TOTAL = 634


def read_deviations(path, sequences):
    """{full test name: reason} from the deviations file; a malformed line or a name that is
    not a sequence of the data is an error, so that a typo cannot hide a failure."""
    names = {s.full_name for s in sequences}
    deviations = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, tab, reason = line.partition("\t")
        assert tab and reason.strip(), f"{path}:{number}: not 'FULL TEST NAME<TAB>reason'"
        assert name in names, f"{path}:{number}: no sequence is named {name!r}"
        assert name not in deviations, f"{path}:{number}: {name!r} is listed twice"
        deviations[name] = reason.strip()
    return deviations


def write_report(path, table, results):
    """The per-group table and every failure with its step, kept in the test's directory
    because ctest runs pytest without -s."""
    failures = [f"{r.sequence.full_name}\t{r.failure}" for r in results if not r.passed]
    path.write_text(table + "\n\nfailing sequences:\n" + "\n".join(failures) + "\n")


def test_herald_fails_only_the_listed_sequences(start_herald, tmp_path):
    sequences = runner.load_sequences()
    deviations = read_deviations(DEVIATIONS, sequences)
    herald = start_herald(mqtt_listeners=("mqtt",), mqtt=ANONYMOUS_MQTT)
    results = runner.run_all(sequences, "127.0.0.1", herald.mqtt_port, "reason",
                             timeout=seconds(runner.SOCKET_TIMEOUT))
    table = runner.summary_table(results, "herald, Mosquitto packet sequences (CONNACK reason)")
    write_report(tmp_path / "mqtt_conformance.txt", table, results)
    print(table)
    failing = {r.sequence.full_name: r.failure for r in results if not r.passed}
    new = [f"{name}\t{failure}" for name, failure in failing.items() if name not in deviations]
    fixed = [name for name in deviations if name not in failing]
    assert not new and not fixed, (
        f"{table}\n\nfailing but not in {DEVIATIONS.name} ({len(new)}):\n" + "\n".join(new)
        + f"\n\nin {DEVIATIONS.name} but passing now ({len(fixed)}):\n" + "\n".join(fixed))


def mosquitto_version():
    """The first line of `mosquitto -h` names the version ("mosquitto version 2.0.11")."""
    result = subprocess.run([str(MOSQUITTO), "-h"], capture_output=True, text=True,
                            timeout=seconds(10))
    return (result.stdout.splitlines() or [""])[0].split()[-1]


def run_against_fresh_mosquitto(work_dir, sequences, connack_mode):
    """A broker per run: retained messages the sequences leave would meet the next run's."""
    broker = MosquittoBroker(work_dir).start()
    try:
        return runner.run_all(sequences, "127.0.0.1", broker.port, connack_mode)
    finally:
        broker.stop()


def test_runner_reproduces_mosquitto_2_0_11_figures(tmp_path):
    assert mosquitto_version() == MOSQUITTO_VERSION, (
        f"the reference figures are Mosquitto {MOSQUITTO_VERSION}'s; measure this one's "
        f"with runner.py --connack exact and update them")
    sequences = runner.load_sequences()
    exact = run_against_fresh_mosquitto(tmp_path / "exact", sequences, "exact")
    by_reason = run_against_fresh_mosquitto(tmp_path / "reason", sequences, "reason")
    table = runner.summary_table(exact, f"Mosquitto {MOSQUITTO_VERSION} (CONNACK exact)")
    passes = runner.tally(exact, lambda s: s.label_version)
    assert (passes, sum(r.passed for r in exact)) == (MOSQUITTO_PASSES, MOSQUITTO_TOTAL), table
    # Mosquitto's CONNACK is the one the exact rule expects, so the rule herald is held to
    # must fail exactly the same sequences.
    failing = {r.sequence.order for r in exact if not r.passed}
    assert {r.sequence.order for r in by_reason if not r.passed} == failing

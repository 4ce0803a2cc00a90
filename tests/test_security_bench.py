"""`pysandbox security-bench`: the attack suite escapes natively and is contained by pysandbox.

The quick subset runs here (natively and under pysandbox); the whole suite, with runc and
runsc beside it, is `pysandbox security-bench --report DIR` (docs/SECURITY.md has its table).
"""
import json
import os

import pytest

from helpers import PLATFORM, run_pysandbox
from pysandbox.security.attacks import ATTACKS

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the native runs and the canaries need root "
                                                          "(namespaces, a canary process, the host clock)")


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    report = tmp_path_factory.mktemp("security-bench")
    r = run_pysandbox(["security-bench", "--quick", "--runtime", "native", "--runtime", f"pysandbox:{PLATFORM}",
                       "--report", str(report)], timeout=600)
    with open(report / "security-bench.json") as results:
        data = json.load(results)
    with open(report / "security-bench.md") as table:
        markdown = table.read()
    return r, data, markdown


@needs_root
def test_every_quick_attack_is_contained_under_pysandbox(quick_report):
    r, data, _ = quick_report
    results = [o for o in data["results"] if o["runtime"].startswith("pysandbox")]
    assert len(results) == sum(a.quick for a in ATTACKS)
    not_contained = {o["attack"]: (o["result"], o["evidence"], o["output"]) for o in results
                     if o["result"] != "contained"}
    assert not not_contained, not_contained
    assert r.status == 0, r


@needs_root
def test_every_quick_attack_escapes_natively(quick_report):
    # An attack that does not succeed natively proves nothing where it is "contained".
    # (A host kernel built without the feature an attack uses says so with ENOSYS: that is not a
    # broken test, and the attack is reported as such.)
    _, data, _ = quick_report
    native = {o["attack"]: o for o in data["results"] if o["runtime"] == "native"}
    failed = {name: o["output"] for name, o in native.items()
              if o["result"] != "ESCAPED" and "Function not implemented" not in o["output"]}
    assert not failed, failed
    assert set(data["broken_natively"]) == {name for name, o in native.items() if o["result"] != "ESCAPED"}


@needs_root
def test_the_report_holds_a_markdown_table_and_the_evidence(quick_report):
    _, data, markdown = quick_report
    assert f"| attack | what | native | pysandbox:{PLATFORM} |" in markdown
    assert "**ESCAPED**: read the canary file outside the rootfs" in markdown
    symlink = {o["runtime"]: o for o in data["results"] if o["attack"] == "symlink"}
    assert symlink["native"]["evidence"][0] == "read the canary file outside the rootfs"
    assert "blocked: absolute symlink" in symlink[f"pysandbox:{PLATFORM}"]["output"]


def test_an_unknown_runtime_or_attack_gets_one_line_and_status_2():
    r = run_pysandbox(["security-bench", "--runtime", "lxc"])
    assert (r.status, r.out) == (2, ""), r
    assert r.err.startswith("pysandbox: --runtime lxc: unknown runtime") and r.err.count("\n") == 1, r
    r = run_pysandbox(["security-bench", "--runtime", "native", "--attack", "nonesuch"])
    assert (r.status, r.err) == (2, "pysandbox: --attack nonesuch: unknown attack (see --list)\n"), r


def test_list_names_every_attack():
    r = run_pysandbox(["security-bench", "--list"])
    assert r.status == 0
    assert [line.split()[0] for line in r.out.splitlines()] == [a.name for a in ATTACKS]

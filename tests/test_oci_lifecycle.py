"""The container lifecycle as a state machine: random verbs on two ids, checked against the
OCI runtime spec's rules (and runc's choices where the spec leaves room).

  verb           allowed in                  then                          otherwise
  create         (no such container)         created                       error, nothing changes
  start          created                     running                       error
  kill KILL      created, running, paused    stopped                       error
  delete         created, stopped            gone (a created one killed)   error (running, paused)
  delete -f      any                         gone                          (no container: success)
  state          any existing                prints the model's status     error
  exec           running                     runs, exit status returned    error
  pause          running                     paused                        error
  resume         paused                      running                       error

A failed call must leave no trace: the set of containers under --root and their states stay
what the model says.
"""
import json
import os
import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

import helpers
from oci_fixtures import Runtime, write_bundle

IDS = st.sampled_from(["a", "b"])
ABSENT, CREATED, RUNNING, PAUSED, STOPPED = None, "created", "running", "paused", "stopped"


class Lifecycle(RuleBasedStateMachine):
    rootfs = None       # set by the test from the busybox_rootfs fixture

    def __init__(self):
        super().__init__()
        self.workdir = tempfile.mkdtemp(prefix="oci-lifecycle-")
        self.runtime = Runtime(os.path.join(self.workdir, "root"), self.workdir)
        self.bundle = write_bundle(os.path.join(self.workdir, "bundle"), self.rootfs, ["sleep", "1000"])
        self.model = {}

    def status_of(self, container_id):
        return self.model.get(container_id, ABSENT)

    def expect(self, result, ok, what):
        if ok:
            assert result.status == 0, f"{what} should succeed in state {self.model}: {result}"
        else:
            assert result.status != 0, f"{what} should fail in state {self.model}: {result}"
            assert result.err.strip(), f"{what} failed without saying why"

    @initialize(started=st.booleans())
    def a_first_container(self, started):
        """Each run starts from a created or running container: the deeper states come sooner."""
        self.create("a")
        if started:
            self.start("a")

    @rule(container_id=IDS)
    def create(self, container_id):
        result, _, _ = self.runtime.create(container_id, self.bundle, check=False)
        self.expect(result, self.status_of(container_id) is ABSENT, f"create {container_id}")
        if result.status == 0:
            self.model[container_id] = CREATED

    def transition(self, verb, container_id, allowed_in, becomes):
        """A verb allowed in one state, which then moves the container to another."""
        result = self.runtime.run(verb, container_id)
        self.expect(result, self.status_of(container_id) == allowed_in, f"{verb} {container_id}")
        if result.status == 0:
            self.model[container_id] = becomes

    @rule(container_id=IDS)
    def start(self, container_id):
        self.transition("start", container_id, CREATED, RUNNING)

    @rule(container_id=IDS)
    def kill(self, container_id):
        result = self.runtime.run("kill", container_id, "KILL")
        self.expect(result, self.status_of(container_id) in (CREATED, RUNNING, PAUSED), f"kill {container_id}")
        if result.status == 0:
            self.runtime.wait_status(container_id, STOPPED)
            self.model[container_id] = STOPPED

    @rule(container_id=IDS, force=st.booleans())
    def delete(self, container_id, force):
        status = self.status_of(container_id)
        result = self.runtime.run("delete", *(["--force"] if force else []), container_id)
        allowed = force or status in (CREATED, STOPPED)
        self.expect(result, allowed, f"delete{' --force' if force else ''} {container_id}")
        if allowed:
            self.model.pop(container_id, None)

    @rule(container_id=IDS)
    def pause(self, container_id):
        self.transition("pause", container_id, RUNNING, PAUSED)

    @rule(container_id=IDS)
    def resume(self, container_id):
        self.transition("resume", container_id, PAUSED, RUNNING)

    @rule(container_id=IDS)
    def state(self, container_id):
        result = self.runtime.run("state", container_id)
        self.expect(result, self.status_of(container_id) is not ABSENT, f"state {container_id}")
        if result.status == 0:
            state = json.loads(result.out)
            assert state["id"] == container_id and state["status"] == self.model[container_id]
            assert (state["pid"] > 0) == (state["status"] != STOPPED)

    @rule(container_id=IDS, code=st.integers(0, 3))
    def exec(self, container_id, code):
        result = self.runtime.run("exec", container_id, "sh", "-c", f"exit {code}")
        if self.status_of(container_id) == RUNNING:
            assert result.status == code, result
        else:
            self.expect(result, False, f"exec {container_id}")

    @rule(container_id=IDS)
    def advance(self, container_id):
        """The next step of a container's usual life, so that runs reach the deeper states often."""
        status = self.status_of(container_id)
        step = {ABSENT: self.create, CREATED: self.start, RUNNING: self.pause, PAUSED: self.resume}.get(status)
        if step is None:
            self.delete(container_id, force=False)
        else:
            step(container_id)

    @invariant()
    def containers_are_what_the_model_says(self):
        assert self.runtime.ids() == sorted(self.model)
        listed = json.loads(self.runtime.run("list", "--format", "json").out)
        assert {c["id"]: c["status"] for c in listed} == self.model

    def teardown(self):
        self.runtime.cleanup()
        assert self.runtime.ids() == []
        helpers.collect_strays(wait=5.0)      # reaps the sandbox processes reparented to us
        shutil.rmtree(self.workdir, ignore_errors=True)


def test_lifecycle_follows_the_oci_rules(busybox_rootfs):
    Lifecycle.rootfs = busybox_rootfs
    machine = Lifecycle.TestCase
    machine.settings = settings(max_examples=10, stateful_step_count=20, deadline=None,
                                suppress_health_check=list(HealthCheck))
    machine().runTest()

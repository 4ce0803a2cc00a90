"""OCI hooks: each runs on the host with the container's state JSON on stdin, in the spec's order."""
import json

from pysandbox.ocishim.state import ContainerError

# Hooks whose failure fails the operation; poststart and poststop only log (runtime-spec, "Hooks").
FATAL = {"prestart", "createRuntime", "createContainer", "startContainer"}


def run_hooks(kind, hooks, state, log):
    """Run `hooks` (dicts: path, args, env, timeout), the `kind` ones of a container, in order."""
    for index, hook in enumerate(hooks):
        problem = _run_one(hook, state)
        if problem is None:
            continue
        message = f"{kind} hook #{index} ({hook['path']}) {problem}"
        if kind in FATAL:
            raise ContainerError(message)
        log.warning(message)


def _run_one(hook, state):
    import subprocess
    argv = list(hook["args"]) or [hook["path"]]
    try:
        done = subprocess.run(argv, executable=hook["path"], env=dict(e.split("=", 1) for e in hook["env"]),
                              input=json.dumps(state).encode(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=hook["timeout"], close_fds=True)
    except subprocess.TimeoutExpired:
        return f"timed out after {hook['timeout']}s"
    except OSError as error:
        return f"could not start: {error.strerror.lower()}"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
        status = (f"was killed by signal {-done.returncode}" if done.returncode < 0
                  else f"exited with status {done.returncode}")
        return status + (f": {detail[-1]}" if detail else "")
    return None


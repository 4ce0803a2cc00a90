"""The sandbox's /sys: a small, read-only sysfs with the directories programs probe and the
CPU tree under /sys/devices/system/cpu, laid out as Linux has it.

The CPUs are the sandbox's virtual ones (sched.HOST_CPUS of them), described as
/proc/cpuinfo describes them: one package, one core per CPU, no SMT, and the same cache
sizes. Nothing of the host's own topology shows through.
"""
import os

from ..sched import HOST_CPUS
from .memfs import MemDir, MemFile

_DIRECTORIES = (b"fs", b"fs/cgroup", b"kernel", b"kernel/mm", b"class", b"class/net", b"bus", b"block",
                b"module", b"devices", b"devices/system", b"devices/system/cpu", b"devices/system/node",
                b"firmware")
# Linux's NR_CPUS - 1 on common distribution kernels; never below the last CPU.
_KERNEL_MAX = 255
# (level, type, size in KiB, ways, shared by every CPU): cpuinfo's "cache size" is the L3.
_CACHES = ((1, "Data", 32, 8, False), (1, "Instruction", 32, 8, False), (2, "Unified", 1024, 8, False),
           (3, "Unified", 32768, 16, True))
_LINE_SIZE = 64


def cpu_list(cpus):
    """A sorted CPU set in Linux's list format: "0", "0-3", "0-1,4" (cpulist_parse's input)."""
    ranges = []
    for cpu in cpus:
        if ranges and ranges[-1][1] == cpu - 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


def cpu_mask(cpus, nr_cpus=HOST_CPUS):
    """A CPU set in Linux's bitmap format ("%*pb"): hex digits for `nr_cpus` bits, in
    comma-separated groups of 32 bits, the first group only as wide as it needs."""
    bits = sum(1 << cpu for cpu in cpus)
    digits = f"{bits:0{(nr_cpus + 3) // 4}x}"
    groups = []
    while digits:
        groups.insert(0, digits[-8:])
        digits = digits[:-8]
    return ",".join(groups)


def sysfs_root(cpus=HOST_CPUS):
    root = MemDir(0o555)
    for path in _DIRECTORIES:
        parent = root
        *parents, name = path.split(b"/")
        for part in parents:
            parent = parent.lookup(part)
        if path == b"devices/system/cpu":
            parent.add(name, FilledOnFirstUse(lambda directory: _fill_cpu_dir(directory, cpus), 0o755,
                                              fs=parent.fs))
        elif path == b"devices/system/node":
            parent.add(name, FilledOnFirstUse(lambda directory: _fill_node_dir(directory, cpus), 0o755,
                                              fs=parent.fs))
        else:
            parent.mkdir(name, 0o755, 0, 0)
    return root


class FilledOnFirstUse(MemDir):
    """A directory whose entries `fill(directory)` makes the first time anything looks at them.
    Every sandbox mounts /sys, few programs read its CPU tree, and making it took ~0.5 ms of
    every start. Its times stay those of the mount."""

    def __init__(self, fill, mode, fs=None):
        self._fill = None
        super().__init__(mode, fs=fs)
        self._fill = fill

    @property
    def children(self):
        fill = self._fill
        if fill is not None:
            self._fill = None
            times = self.atime_ns, self.mtime_ns, self.ctime_ns
            fill(self)
            self.atime_ns, self.mtime_ns, self.ctime_ns = times
        return self._children

    @children.setter
    def children(self, children):
        self._children = children


def _files(directory, values, mode=0o444):
    for name, value in values.items():
        directory.add(name.encode(), MemFile(mode, data=f"{value}\n".encode()))


def _fill_cpu_dir(directory, cpus):
    everyone = range(cpus)
    _files(directory, {"online": cpu_list(everyone), "possible": cpu_list(everyone),
                       "present": cpu_list(everyone), "offline": "", "isolated": "",
                       "kernel_max": max(_KERNEL_MAX, cpus - 1)})
    _files(directory.mkdir(b"smt", 0o755, 0, 0), {"active": 0, "control": "notsupported"})
    for cpu in everyone:
        cpu_dir = directory.mkdir(b"cpu%d" % cpu, 0o755, 0, 0)
        if cpu:                              # as on x86: the boot CPU can't be taken offline
            _files(cpu_dir, {"online": 1}, mode=0o644)
        _fill_topology(cpu_dir.mkdir(b"topology", 0o755, 0, 0), cpu, everyone)
        _fill_caches(cpu_dir.mkdir(b"cache", 0o755, 0, 0), cpu, everyone)


def _fill_node_dir(directory, cpus):
    """/sys/devices/system/node: one memory node, node 0, with every CPU and all the memory
    (what set_mempolicy(2) and friends say too: sys_numa.py)."""
    _files(directory, {"online": 0, "possible": 0, "has_cpu": 0, "has_memory": 0, "has_normal_memory": 0})
    node = directory.mkdir(b"node0", 0o755, 0, 0)
    everyone = range(cpus)
    page = os.sysconf("SC_PAGE_SIZE")
    total_kb = os.sysconf("SC_PHYS_PAGES") * page // 1024
    free_kb = os.sysconf("SC_AVPHYS_PAGES") * page // 1024
    meminfo = "".join(f"Node 0 {name + ':':<16}{value:>8} kB\n" for name, value in
                      (("MemTotal", total_kb), ("MemFree", free_kb), ("MemUsed", total_kb - free_kb)))
    _files(node, {"cpulist": cpu_list(everyone), "cpumap": cpu_mask(everyone, cpus), "distance": 10})
    node.add(b"meminfo", MemFile(0o444, data=meminfo.encode()))
    for cpu in everyone:
        node.symlink(b"cpu%d" % cpu, b"../../cpu/cpu%d" % cpu, 0, 0)


def _fill_topology(directory, cpu, everyone):
    alone, package = [cpu], everyone
    values = {"physical_package_id": 0, "die_id": 0, "cluster_id": 65535, "core_id": cpu}
    for name, cpus in (("thread_siblings", alone), ("core_cpus", alone), ("cluster_cpus", alone),
                       ("core_siblings", package), ("die_cpus", package), ("package_cpus", package)):
        values[name] = cpu_mask(cpus, len(everyone))
        values[name + "_list"] = cpu_list(cpus)
    _files(directory, values)


def _fill_caches(directory, cpu, everyone):
    for index, (level, kind, size_kib, ways, shared) in enumerate(_CACHES):
        sharing = everyone if shared else [cpu]
        _files(directory.mkdir(b"index%d" % index, 0o755, 0, 0), {
            "level": level, "type": kind, "size": f"{size_kib}K", "ways_of_associativity": ways,
            "coherency_line_size": _LINE_SIZE, "physical_line_partition": 1,
            "number_of_sets": size_kib * 1024 // (_LINE_SIZE * ways), "id": 0 if shared else cpu,
            "shared_cpu_map": cpu_mask(sharing, len(everyone)), "shared_cpu_list": cpu_list(sharing)})

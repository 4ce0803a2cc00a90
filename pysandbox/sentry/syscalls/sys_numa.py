"""NUMA memory policy: set_mempolicy(2), get_mempolicy(2), mbind(2), migrate_pages(2),
move_pages(2) and set_mempolicy_home_node(2).

The sandbox is a machine with one memory node, node 0, as gVisor presents itself: every
page lives there, so policies are checked and remembered exactly as Linux 6.1 checks and
remembers them (mm/mempolicy.c), and nothing ever moves. A thread's own policy is
`Task.mempolicy` (inherited by clone and fork, kept across execve); a mapping's is
`Vma.policy` (mbind splits VMAs as Linux does; fork copies them, munmap drops them).
"""
import errno
import struct
from collections import namedtuple

from pysandbox.sentry.credentials import CAP_SYS_NICE, capable
from pysandbox.sentry.errors import SyscallError
from pysandbox.sentry.syscalls.sys_pidfd import ptrace_may_access
from pysandbox.sentry.mm import PROT_READ
from pysandbox.sentry.vma import PAGE_SIZE

MPOL_DEFAULT, MPOL_PREFERRED, MPOL_BIND, MPOL_INTERLEAVE, MPOL_LOCAL, MPOL_PREFERRED_MANY = range(6)
MPOL_MAX = 6                                 # Linux 6.1: MPOL_WEIGHTED_INTERLEAVE (6.9) is not a mode
MPOL_F_STATIC_NODES, MPOL_F_RELATIVE_NODES, MPOL_F_NUMA_BALANCING = 1 << 15, 1 << 14, 1 << 13
MPOL_MODE_FLAGS = MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES | MPOL_F_NUMA_BALANCING
MPOL_F_NODE, MPOL_F_ADDR, MPOL_F_MEMS_ALLOWED = 1, 2, 4
MPOL_MF_STRICT, MPOL_MF_MOVE, MPOL_MF_MOVE_ALL = 1, 2, 4
MPOL_MF_VALID = MPOL_MF_STRICT | MPOL_MF_MOVE | MPOL_MF_MOVE_ALL

MAX_NUMNODES = 1024                          # CONFIG_NODES_SHIFT=10, as distribution kernels
NR_NODE_IDS = 1
NUMA_NO_NODE = -1
ONLINE_NODES = 0b1                           # node 0 has the CPUs and all the memory
_BITS_PER_LONG = 64
_U64 = (1 << 64) - 1
_STAT_CHUNK = 16                             # move_pages without nodes reads 16 addresses at a time


class MemPolicy(namedtuple("MemPolicy", "mode flags nodes user_nodes home_node")):
    """One policy, compared the way Linux's mpol_equal compares: `nodes` is the effective node
    set (a bitmask), `user_nodes` what the caller gave when a mode flag asks to keep it."""
    __slots__ = ()


def task_policy(t):
    """The calling thread's policy: None is the default (local allocation)."""
    return t.mempolicy


def _sanitize_mode(mode):
    """(mode, mode flags) of an int `mode` argument, as Linux's sanitize_mpol_flags."""
    mode &= 0xFFFFFFFF
    flags = mode & MPOL_MODE_FLAGS
    mode &= ~MPOL_MODE_FLAGS
    if mode >= MPOL_MAX:
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_F_STATIC_NODES and flags & MPOL_F_RELATIVE_NODES:
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_F_NUMA_BALANCING and mode != MPOL_BIND:
        raise SyscallError(errno.EINVAL)
    return mode, flags


def _read_bitmap(t, addr, nbits):
    """The first `nbits` bits of the unsigned longs at `addr`."""
    nlongs = (nbits + _BITS_PER_LONG - 1) // _BITS_PER_LONG
    value = int.from_bytes(t.copy_in(addr, nlongs * 8), "little")
    return value & ((1 << nbits) - 1)


def read_nodemask(t, nmask, maxnode):
    """A node mask from the caller (Linux's get_nodes): maxnode - 1 bits of it count, bits for
    nodes past MAX_NUMNODES must be clear (checked a word at a time, from the end)."""
    maxnode = (maxnode - 1) & _U64
    if maxnode == 0 or not nmask:
        return 0
    if maxnode > PAGE_SIZE * 8:
        raise SyscallError(errno.EINVAL)
    while maxnode > MAX_NUMNODES:
        bits = min(maxnode, _BITS_PER_LONG)
        word = _read_bitmap(t, nmask + (maxnode - 1) // _BITS_PER_LONG * 8, bits)
        if maxnode - bits >= MAX_NUMNODES:
            maxnode -= bits
        else:
            maxnode = MAX_NUMNODES
            word &= ~((1 << (MAX_NUMNODES % _BITS_PER_LONG)) - 1)
        if word:
            raise SyscallError(errno.EINVAL)
    return _read_bitmap(t, nmask, maxnode)


def write_nodemask(t, nmask, maxnode, nodes):
    """Linux's copy_nodes_to_user: whole longs for maxnode - 1 bits, zeros past the kernel's
    own node words."""
    copy = (((maxnode - 1) + _BITS_PER_LONG - 1) & ~(_BITS_PER_LONG - 1) & _U64) // 8
    own = (NR_NODE_IDS + _BITS_PER_LONG - 1) // _BITS_PER_LONG * 8
    if copy > own:
        if copy > PAGE_SIZE:
            raise SyscallError(errno.EINVAL)
        t.copy_out(nmask + own, bytes(copy - own))
        copy = own
    if copy:
        t.copy_out(nmask, nodes.to_bytes(own, "little")[:copy])


def _fold_onto(user_nodes, allowed):
    """Linux's mpol_relative_nodemask: node n of the user's mask means the (n mod weight)-th
    allowed node."""
    allowed_nodes = [node for node in range(MAX_NUMNODES) if allowed >> node & 1]
    result = 0
    for node in range(MAX_NUMNODES):
        if user_nodes >> node & 1:
            result |= 1 << allowed_nodes[node % len(allowed_nodes)]
    return result


def new_policy(mode, flags, nodes):
    """The policy a mode and node mask make (Linux's mpol_new and mpol_set_nodemask), None for
    the default; EINVAL for a mask the mode can't take or that names no node of this machine."""
    if mode == MPOL_DEFAULT:
        if nodes:
            raise SyscallError(errno.EINVAL)
        return None
    static_or_relative = flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES)
    if mode == MPOL_PREFERRED:
        if not nodes:
            if static_or_relative:
                raise SyscallError(errno.EINVAL)
            mode = MPOL_LOCAL
    elif mode == MPOL_LOCAL:
        if nodes or static_or_relative:
            raise SyscallError(errno.EINVAL)
    elif not nodes:
        raise SyscallError(errno.EINVAL)
    if mode == MPOL_LOCAL:
        return MemPolicy(mode, flags, 0, 0, NUMA_NO_NODE)
    if flags & MPOL_F_RELATIVE_NODES:
        effective = _fold_onto(nodes, ONLINE_NODES)
    else:
        effective = nodes & ONLINE_NODES
    if not effective:
        raise SyscallError(errno.EINVAL)
    if mode == MPOL_PREFERRED:
        effective &= -effective              # only the first node
    return MemPolicy(mode, flags, effective, nodes if flags else 0, NUMA_NO_NODE)


def set_mempolicy(t, mode, nmask, maxnode):
    """Set_mempolicy implements Linux syscall set_mempolicy(2): the calling thread's policy."""
    mode, flags = _sanitize_mode(mode)
    nodes = read_nodemask(t, nmask, maxnode)
    t.mempolicy = new_policy(mode, flags, nodes)
    return 0


def _reported(policy):
    """(mode word, node mask) get_mempolicy reports for a policy (None: the default)."""
    if policy is None:
        return MPOL_DEFAULT, 0
    nodes = policy.user_nodes if policy.flags else policy.nodes
    return policy.mode | policy.flags, nodes


def get_mempolicy(t, mode, nmask, maxnode, addr, flags):
    """Get_mempolicy implements Linux syscall get_mempolicy(2)."""
    if nmask and maxnode < NR_NODE_IDS:
        raise SyscallError(errno.EINVAL)
    if flags & ~(MPOL_F_NODE | MPOL_F_ADDR | MPOL_F_MEMS_ALLOWED):
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_F_MEMS_ALLOWED:
        if flags & (MPOL_F_NODE | MPOL_F_ADDR):
            raise SyscallError(errno.EINVAL)
        value, nodes = 0, ONLINE_NODES
    else:
        if flags & MPOL_F_ADDR:
            vma = t.mm.vmas.find(addr)
            if vma is None:
                raise SyscallError(errno.EFAULT)
            policy = vma.policy               # no fallback to the thread's policy
        elif addr:
            raise SyscallError(errno.EINVAL)
        else:
            policy = task_policy(t)
        value, nodes = _reported(policy)
        if flags & MPOL_F_NODE:
            if flags & MPOL_F_ADDR:
                # The node of the page at addr, which Linux faults in for reading first.
                if not vma.prot & PROT_READ:
                    raise SyscallError(errno.EFAULT)
                value = 0
            elif policy is not None and policy.mode == MPOL_INTERLEAVE:   # the thread's own policy
                value = 0                    # the next node of the interleave: always node 0
            else:
                raise SyscallError(errno.EINVAL)
    if mode:
        t.copy_out_i32(mode, value)
    if nmask:
        write_nodemask(t, nmask, maxnode, nodes)
    return 0


def _range_end(start, length):
    """The end of `length` bytes from `start`, rounded up to a page as Linux rounds it (a length
    that rounds past 2**64 wraps to 0); EINVAL for a range that runs past the address space."""
    end = (start + ((length + PAGE_SIZE - 1) & _U64 & ~(PAGE_SIZE - 1))) & _U64
    if end < start:
        raise SyscallError(errno.EINVAL)
    return end


def mbind(t, addr, length, mode, nmask, maxnode, flags):
    """Mbind implements Linux syscall mbind(2): the policy of the mappings in a range."""
    mode, mode_flags = _sanitize_mode(mode)
    nodes = read_nodemask(t, nmask, maxnode)
    if flags & ~MPOL_MF_VALID:
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_MF_MOVE_ALL and not capable(t, CAP_SYS_NICE):
        raise SyscallError(errno.EPERM)
    if addr % PAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    end = _range_end(addr, length)
    if end == addr:
        return 0
    policy = new_policy(mode, mode_flags, nodes)
    vmas = t.mm.vmas
    if not vmas.overlapping(addr, end):
        raise SyscallError(errno.EFAULT)
    if policy is not None and not vmas.is_fully_mapped(addr, end):
        raise SyscallError(errno.EFAULT)     # only the default may be set across holes
    vmas.update(addr, end, policy=policy)
    return 0


def set_mempolicy_home_node(t, start, length, home_node, flags):
    """Set_mempolicy_home_node implements Linux syscall set_mempolicy_home_node(2): the node
    that mappings with a BIND or PREFERRED_MANY policy allocate from first."""
    if start % PAGE_SIZE:
        raise SyscallError(errno.EINVAL)
    if flags:
        raise SyscallError(errno.EINVAL)
    if home_node >= MAX_NUMNODES or not ONLINE_NODES >> home_node & 1:
        raise SyscallError(errno.EINVAL)
    end = _range_end(start, length)
    if end == start:
        return 0
    homed = False
    for vma in t.mm.vmas.overlapping(start, end):
        policy = vma.policy
        if policy is None:
            continue
        if policy.mode not in (MPOL_BIND, MPOL_PREFERRED_MANY):
            raise SyscallError(errno.EOPNOTSUPP)     # those before it keep their new home node
        t.mm.vmas.update(max(start, vma.start), min(end, vma.end), policy=policy._replace(home_node=home_node))
        homed = True
    if not homed:
        raise SyscallError(errno.ENOENT)         # no mapping in the range has a policy
    return 0


def _find_target(t, pid):
    """The thread `pid` names (0: the caller), a zombie's leader included: ESRCH for none, EPERM
    without ptrace read access to it."""
    if pid == 0:
        return t
    task = t.kernel.tasks.get(pid) if pid > 0 else None
    if task is None:
        tg = t.kernel.thread_groups.get(pid) if pid > 0 else None
        task = tg.leader if tg is not None and not tg.reaped else None
        if task is None:
            raise SyscallError(errno.ESRCH)
    if not ptrace_may_access(t, task):       # its own process always may
        raise SyscallError(errno.EPERM)
    return task


def _target_mm(t, pid):
    """The memory of process `pid` for move_pages: ESRCH for no such thread, EPERM without
    ptrace read access, EINVAL for a zombie, which has no memory left."""
    task = _find_target(t, pid)
    if not task.alive:
        raise SyscallError(errno.EINVAL)
    return task.mm


def migrate_pages(t, pid, maxnode, old_nodes, new_nodes):
    """Migrate_pages implements Linux syscall migrate_pages(2): every page already is on the
    only node, so none is left unmoved."""
    read_nodemask(t, old_nodes, maxnode)
    new = read_nodemask(t, new_nodes, maxnode)
    task = _find_target(t, pid)
    if new & ~ONLINE_NODES and not capable(t, CAP_SYS_NICE):
        raise SyscallError(errno.EPERM)
    if not new & ONLINE_NODES or not task.alive:
        raise SyscallError(errno.EINVAL)
    return 0


_I32 = struct.Struct("<i")


def move_pages(t, pid, count, pages, nodes, status, flags):
    """Move_pages implements Linux syscall move_pages(2): with `nodes`, each page is asked to
    move to a node (only node 0 exists); without, the node of each page is reported."""
    if flags & ~(MPOL_MF_MOVE | MPOL_MF_MOVE_ALL):
        raise SyscallError(errno.EINVAL)
    if flags & MPOL_MF_MOVE_ALL and not capable(t, CAP_SYS_NICE):
        raise SyscallError(errno.EPERM)
    mm = _target_mm(t, pid)
    if nodes:
        return _move(t, mm, count, pages, nodes, status)
    return _stat(t, mm, count, pages, status)


def _page_status(mm, addr):
    """The node of the page at addr, or -EFAULT where nothing is mapped."""
    return 0 if mm.vmas.find(addr) is not None else -errno.EFAULT


def _move(t, mm, count, pages, nodes, status):
    for index in range(count):
        addr = t.copy_in_u64(pages + 8 * index)
        node = t.copy_in_i32(nodes + 4 * index)
        if node < 0 or node >= MAX_NUMNODES or not ONLINE_NODES >> node & 1:
            raise SyscallError(errno.ENODEV)
        t.copy_out_i32(status + 4 * index, _page_status(mm, addr))
    return 0


def _stat(t, mm, count, pages, status):
    done = 0
    while done < count:
        chunk = min(count - done, _STAT_CHUNK)
        raw = t.copy_in(pages + 8 * done, 8 * chunk)
        addresses = struct.unpack(f"<{chunk}Q", raw)
        t.copy_out(status + 4 * done, b"".join(_I32.pack(_page_status(mm, addr)) for addr in addresses))
        done += chunk
    return 0

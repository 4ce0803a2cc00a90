"""personality(2): the execution domain and its flags, kept per thread and inherited.

The sentry's loader places every image at fixed addresses, so ADDR_NO_RANDOMIZE changes
nothing there. READ_IMPLIES_EXEC makes readable mappings executable, and every exec of a
64-bit program clears it, as on x86_64.
PER_LINUX32 makes uname(2) report i686, as Linux's override_architecture() does.
"""
from pysandbox.sentry.mm import PROT_EXEC, PROT_READ

PER_LINUX, PER_LINUX32, PER_MASK = 0x0000, 0x0008, 0x00FF
UNAME26, ADDR_NO_RANDOMIZE, FDPIC_FUNCPTRS, MMAP_PAGE_ZERO = 0x0020000, 0x0040000, 0x0080000, 0x0100000
ADDR_COMPAT_LAYOUT, READ_IMPLIES_EXEC, ADDR_LIMIT_32BIT = 0x0200000, 0x0400000, 0x0800000
SHORT_INODE, WHOLE_SECONDS, STICKY_TIMEOUTS, ADDR_LIMIT_3GB = 0x1000000, 0x2000000, 0x4000000, 0x8000000
# Flags a set-user-ID or set-group-ID exec drops (PER_CLEAR_ON_SETID).
PER_CLEAR_ON_SETID = READ_IMPLIES_EXEC | ADDR_NO_RANDOMIZE | ADDR_COMPAT_LAYOUT | MMAP_PAGE_ZERO
QUERY = 0xFFFFFFFF


def personality(t, persona):
    """Personality implements Linux syscall personality(2): 0xffffffff only asks; any other
    value is taken as it is (x86_64 checks none). Returns the previous persona."""
    previous = t.personality
    if persona != QUERY:
        t.personality = persona
    return previous


def personality_after_exec(persona, old_creds, new_creds):
    """The persona a thread keeps across execve(2) of a 64-bit ELF program."""
    persona &= ~READ_IMPLIES_EXEC
    if (old_creds.euid, old_creds.egid) != (new_creds.euid, new_creds.egid):
        persona &= ~PER_CLEAR_ON_SETID
    return persona


def machine_for(t, machine):
    """The machine name uname(2) reports to `t`."""
    return "i686" if t.personality & PER_MASK == PER_LINUX32 else machine


def implied_prot(t, prot):
    """The protection mmap(2) and mprotect(2) apply: under READ_IMPLIES_EXEC, readable is executable."""
    if prot & PROT_READ and t.personality & READ_IMPLIES_EXEC:
        return prot | PROT_EXEC
    return prot

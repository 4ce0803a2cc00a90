"""Capabilities: capget(2), capset(2) and prctl(2)'s capability options (PR_CAPBSET_*,
PR_CAP_AMBIENT, PR_*_KEEPCAPS, PR_*_SECUREBITS, PR_*_NO_NEW_PRIVS).

The rules are capabilities(7)'s and security/commoncap.c's; the sets live in the task's
Credentials (sentry/credentials.py), and every change installs a changed copy.
"""
import errno
import struct

from ..credentials import (ALL_CAPABILITIES, CAP_LAST_CAP, CAP_SETPCAP, SECBIT_KEEP_CAPS, SECBIT_KEEP_CAPS_LOCKED,
                           SECBIT_NO_CAP_AMBIENT_RAISE, SECURE_ALL_BITS, SECURE_ALL_LOCKS, capable,
                           change_credentials)
from ..errors import SyscallError

_LINUX_CAPABILITY_VERSION_1 = 0x19980330
_LINUX_CAPABILITY_VERSION_2 = 0x20071026
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_CAPABILITY_WORDS = {_LINUX_CAPABILITY_VERSION_1: 1, _LINUX_CAPABILITY_VERSION_2: 2, _LINUX_CAPABILITY_VERSION_3: 2}

_U32 = struct.Struct("<I")
_CAP_HEADER = struct.Struct("<Ii")                   # version, pid
_CAP_DATA = struct.Struct("<III")                    # effective, permitted, inheritable

PR_GET_KEEPCAPS, PR_SET_KEEPCAPS = 7, 8
PR_CAPBSET_READ, PR_CAPBSET_DROP = 23, 24
PR_GET_SECUREBITS, PR_SET_SECUREBITS = 27, 28
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET, PR_CAP_AMBIENT_RAISE, PR_CAP_AMBIENT_LOWER, PR_CAP_AMBIENT_CLEAR_ALL = 1, 2, 3, 4


# capget(2), capset(2)

def _capability_words(t, header):
    """32-bit words per set for the header's version; None for an unknown version.

    An unknown version is answered by writing the preferred one into the header, which
    is how programs probe for it.
    """
    version = _U32.unpack(t.copy_in(header, _U32.size))[0]
    words = _CAPABILITY_WORDS.get(version)
    if words is None:
        t.copy_out(header, _U32.pack(_LINUX_CAPABILITY_VERSION_3))
    return words


def _header_pid(t, header):
    return _CAP_HEADER.unpack(t.copy_in(header, _CAP_HEADER.size))[1]


def _pack_capabilities(sets, words):
    return b"".join(_CAP_DATA.pack(*(bits >> (32 * word) & 0xFFFFFFFF for bits in sets)) for word in range(words))


def _unpack_capabilities(raw, words):
    sets = [0, 0, 0]
    for word in range(words):
        for index, bits in enumerate(_CAP_DATA.unpack_from(raw, word * _CAP_DATA.size)):
            sets[index] |= bits << (32 * word)
    return [bits & ALL_CAPABILITIES for bits in sets]


def capget(t, header, data):
    """capget(2)."""
    words = _capability_words(t, header)
    if not data:
        return 0
    if words is None:
        raise SyscallError(errno.EINVAL)
    pid = _header_pid(t, header)
    if pid < 0:
        raise SyscallError(errno.EINVAL)
    target = t if pid == 0 else t.kernel.tasks.get(pid)
    if target is None:
        raise SyscallError(errno.ESRCH)
    creds = target.creds
    t.copy_out(data, _pack_capabilities((creds.effective, creds.permitted, creds.inheritable), words))
    return 0


def capset(t, header, data):
    """capset(2): a task changes only its own sets, within cap_capset()'s limits."""
    words = _capability_words(t, header)
    if words is None:
        raise SyscallError(errno.EINVAL)
    if _header_pid(t, header) not in (0, t.tid):
        raise SyscallError(errno.EPERM)
    effective, permitted, inheritable = _unpack_capabilities(t.copy_in(data, words * _CAP_DATA.size), words)
    old = t.creds
    if not capable(t, CAP_SETPCAP) and inheritable & ~(old.inheritable | old.permitted):
        raise SyscallError(errno.EPERM)
    if inheritable & ~(old.inheritable | old.bounding):
        raise SyscallError(errno.EPERM)
    if permitted & ~old.permitted or effective & ~permitted:
        raise SyscallError(errno.EPERM)
    return change_credentials(t, effective=effective, permitted=permitted, inheritable=inheritable,
                              ambient=old.ambient & permitted & inheritable)


# prctl(2)'s capability options

def _valid_capability(number):
    if not 0 <= number <= CAP_LAST_CAP:
        raise SyscallError(errno.EINVAL)
    return number


def _keepcaps(t, option, value):
    if option == PR_GET_KEEPCAPS:
        return int(bool(t.creds.securebits & SECBIT_KEEP_CAPS))
    if value > 1:
        raise SyscallError(errno.EINVAL)
    if t.creds.securebits & SECBIT_KEEP_CAPS_LOCKED:
        raise SyscallError(errno.EPERM)
    bits = t.creds.securebits & ~SECBIT_KEEP_CAPS | (SECBIT_KEEP_CAPS if value else 0)
    return change_credentials(t, securebits=bits)


def _bounding_set(t, option, number):
    if option == PR_CAPBSET_READ:
        return t.creds.bounding >> _valid_capability(number) & 1
    if not capable(t, CAP_SETPCAP):
        raise SyscallError(errno.EPERM)
    return change_credentials(t, bounding=t.creds.bounding & ~(1 << _valid_capability(number)))


def _securebits(t, option, bits):
    old = t.creds.securebits
    if option == PR_GET_SECUREBITS:
        return old
    locked = old & SECURE_ALL_LOCKS
    if ((locked >> 1) & (old ^ bits) or locked & ~bits or bits & ~(SECURE_ALL_LOCKS | SECURE_ALL_BITS)
            or not capable(t, CAP_SETPCAP)):
        raise SyscallError(errno.EPERM)
    return change_credentials(t, securebits=bits)


def _ambient(t, action, number, arg4, arg5):
    creds = t.creds
    if action == PR_CAP_AMBIENT_CLEAR_ALL:
        if number or arg4 or arg5:
            raise SyscallError(errno.EINVAL)
        return change_credentials(t, ambient=0)
    if arg4 or arg5:
        raise SyscallError(errno.EINVAL)
    bit = 1 << _valid_capability(number)
    if action == PR_CAP_AMBIENT_IS_SET:
        return int(bool(creds.ambient & bit))
    if action == PR_CAP_AMBIENT_RAISE:
        if not creds.permitted & bit or not creds.inheritable & bit or creds.securebits & SECBIT_NO_CAP_AMBIENT_RAISE:
            raise SyscallError(errno.EPERM)
        return change_credentials(t, ambient=creds.ambient | bit)
    if action == PR_CAP_AMBIENT_LOWER:
        return change_credentials(t, ambient=creds.ambient & ~bit)
    raise SyscallError(errno.EINVAL)


def _no_new_privs(t, option, arg2, arg3, arg4, arg5):
    if option == PR_GET_NO_NEW_PRIVS:
        if arg2 or arg3 or arg4 or arg5:
            raise SyscallError(errno.EINVAL)
        return int(t.creds.no_new_privs)
    if arg2 != 1 or arg3 or arg4 or arg5:
        raise SyscallError(errno.EINVAL)
    return change_credentials(t, no_new_privs=True)


CAPABILITY_PRCTL_OPTIONS = frozenset({
    PR_GET_KEEPCAPS, PR_SET_KEEPCAPS, PR_CAPBSET_READ, PR_CAPBSET_DROP, PR_GET_SECUREBITS, PR_SET_SECUREBITS,
    PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS, PR_CAP_AMBIENT})


def capability_prctl(t, option, arg2, arg3, arg4, arg5):
    """prctl(2) for an option in CAPABILITY_PRCTL_OPTIONS."""
    if option in (PR_GET_KEEPCAPS, PR_SET_KEEPCAPS):
        return _keepcaps(t, option, arg2)
    if option in (PR_CAPBSET_READ, PR_CAPBSET_DROP):
        return _bounding_set(t, option, arg2)
    if option in (PR_GET_SECUREBITS, PR_SET_SECUREBITS):
        return _securebits(t, option, arg2)
    if option == PR_CAP_AMBIENT:
        return _ambient(t, arg2, arg3, arg4, arg5)
    return _no_new_privs(t, option, arg2, arg3, arg4, arg5)

"""reboot(2) inside the sandbox, which is a pid namespace of its own: restarting or powering
off ends the sandbox, as reboot_pid_ns() ends a container (its init dies of SIGHUP or SIGINT,
which the runtime reports). The host is never rebooted."""
import errno

from ..credentials import CAP_SYS_BOOT, capable
from ..errors import KEEP_REGS, SyscallError
from ..signals import SIGHUP, SIGINT

LINUX_REBOOT_MAGIC1 = 0xFEE1DEAD
LINUX_REBOOT_MAGIC2S = (672274793, 85072278, 369367448, 537993216)
LINUX_REBOOT_CMD_RESTART, LINUX_REBOOT_CMD_HALT = 0x01234567, 0xCDEF0123
LINUX_REBOOT_CMD_POWER_OFF, LINUX_REBOOT_CMD_RESTART2 = 0x4321FEDC, 0xA1B2C3D4
_INIT_DIES_OF = {LINUX_REBOOT_CMD_RESTART: SIGHUP, LINUX_REBOOT_CMD_RESTART2: SIGHUP,
                 LINUX_REBOOT_CMD_POWER_OFF: SIGINT, LINUX_REBOOT_CMD_HALT: SIGINT}


def reboot(t, magic, magic2, cmd, arg):
    """reboot(2): CAP_SYS_BOOT, the magic numbers, then a command a pid namespace accepts."""
    if not capable(t, CAP_SYS_BOOT):
        raise SyscallError(errno.EPERM)
    if magic & 0xFFFFFFFF != LINUX_REBOOT_MAGIC1 or magic2 not in LINUX_REBOOT_MAGIC2S:
        raise SyscallError(errno.EINVAL)
    signo = _INIT_DIES_OF.get(cmd)
    if signo is None:
        raise SyscallError(errno.EINVAL)
    kernel = t.kernel
    init = kernel.init or kernel.thread_groups.get(1)
    if init is not None:
        kernel.exit_thread_group(init, wait_status=signo)
    kernel.exit_thread_group(t.tg, wait_status=0)
    return KEEP_REGS

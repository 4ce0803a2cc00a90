"""The loopback network's one interface, `lo`, as netlink (netlink.py) and the SIOCGIF* ioctls
(netdevice(7)) report it in `--network=none`."""
import errno
import ipaddress
import struct

from ..errors import SyscallError

IFF_UP, IFF_LOOPBACK, IFF_RUNNING, IFF_LOWER_UP = 0x1, 0x8, 0x40, 0x10000
ARPHRD_LOOPBACK = 772
IFNAMSIZ = 16
IFREQ_SIZE = 40
IFCONF = struct.Struct("<i4xQ")
AF_INET = 2

SIOCGIFNAME, SIOCGIFCONF, SIOCGIFFLAGS, SIOCGIFADDR = 0x8910, 0x8912, 0x8913, 0x8915
SIOCGIFDSTADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK, SIOCGIFMETRIC = 0x8917, 0x8919, 0x891B, 0x891D
SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX, SIOCGIFTXQLEN = 0x8921, 0x8927, 0x8933, 0x8942
IFREQ_SETTERS = {0x8914, 0x8916, 0x8918, 0x891A, 0x891C, 0x891E, 0x8922, 0x8924, 0x8934, 0x8943}


class Interface:
    def __init__(self, index, name, flags, mtu, link_type, hardware, addresses, txqlen=1000):
        self.index = index
        self.name = name
        self.flags = flags
        self.mtu = mtu
        self.link_type = link_type
        self.hardware = hardware
        self.addresses = addresses            # ipaddress.ip_interface values
        self.txqlen = txqlen

    def address_of(self, version):
        return next((address for address in self.addresses if address.version == version), None)


LOOPBACK = Interface(1, b"lo", IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP, 65536, ARPHRD_LOOPBACK,
                     bytes(6), [ipaddress.ip_interface("127.0.0.1/8"), ipaddress.ip_interface("::1/128")])
INTERFACES = [LOOPBACK]


def _sockaddr_in(address):
    return struct.pack("<H", AF_INET) + struct.pack("!H", 0) + address.packed + bytes(8)


def _by_name(name):
    for interface in INTERFACES:
        if interface.name == name:
            return interface
    raise SyscallError(errno.ENODEV)


def loopback_ioctl(t, cmd, arg):
    """SIOCGIF* for the loopback network's interfaces."""
    if cmd == SIOCGIFCONF:
        return _interface_list(t, arg)
    if cmd in IFREQ_SETTERS:
        raise SyscallError(errno.EPERM)
    request = t.copy_in(arg, IFREQ_SIZE)
    if cmd == SIOCGIFNAME:
        index = struct.unpack_from("<i", request, IFNAMSIZ)[0]
        interface = next((i for i in INTERFACES if i.index == index), None)
        if interface is None:
            raise SyscallError(errno.ENODEV)
        t.copy_out(arg, interface.name.ljust(IFNAMSIZ, b"\0"))
        return 0
    interface = _by_name(request[:IFNAMSIZ].split(b"\0", 1)[0])
    value = _ifreq_value(cmd, interface)
    t.copy_out(arg + IFNAMSIZ, value)
    return 0


def _ifreq_value(cmd, interface):
    if cmd == SIOCGIFFLAGS:
        return struct.pack("<H", interface.flags & 0xFFFF)
    if cmd == SIOCGIFINDEX:
        return struct.pack("<i", interface.index)
    if cmd == SIOCGIFMTU:
        return struct.pack("<i", interface.mtu)
    if cmd == SIOCGIFMETRIC:
        return struct.pack("<i", 0)
    if cmd == SIOCGIFTXQLEN:
        return struct.pack("<i", interface.txqlen)
    if cmd == SIOCGIFHWADDR:
        return struct.pack("<H", interface.link_type) + interface.hardware.ljust(14, b"\0")
    if cmd in (SIOCGIFADDR, SIOCGIFDSTADDR, SIOCGIFBRDADDR, SIOCGIFNETMASK):
        address = interface.address_of(4)
        if address is None:
            raise SyscallError(errno.EADDRNOTAVAIL)
        if cmd == SIOCGIFNETMASK:
            return _sockaddr_in(address.netmask)
        if cmd == SIOCGIFBRDADDR:
            return _sockaddr_in(ipaddress.IPv4Address(0))
        return _sockaddr_in(address.ip)
    raise SyscallError(errno.ENOTTY)


def _interface_list(t, arg):
    """SIOCGIFCONF: one ifreq per interface with an IPv4 address."""
    length, buffer = IFCONF.unpack(t.copy_in(arg, IFCONF.size))
    records = b"".join(interface.name.ljust(IFNAMSIZ, b"\0") + _sockaddr_in(interface.address_of(4).ip).ljust(24, b"\0")
                       for interface in INTERFACES if interface.address_of(4) is not None)
    if buffer:
        records = records[:max(0, length) // IFREQ_SIZE * IFREQ_SIZE]
        t.copy_out(buffer, records)
    t.copy_out(arg, struct.pack("<i", len(records)))
    return 0

"""config.json's mounts, in order, as the VFS's mount table takes them (sentry/vfs/mount.py)."""
from pysandbox.ocishim.spec import SpecError
from pysandbox.sentry.vfs.mount import FILESYSTEM_TYPES, MountSpec


def translate_mounts(spec):
    """[MountSpec] for the spec's mounts, in their order, with their options; SpecError for a
    filesystem type the sandbox doesn't have."""
    table = []
    for index, mount in enumerate(spec.mounts):
        if mount.type not in FILESYSTEM_TYPES:
            raise SpecError(f"mounts[{index}] ({mount.destination}): mount type {mount.type!r} is not supported "
                            f"(supported: {', '.join(t for t in FILESYSTEM_TYPES if t != 'none')})")
        table.append(MountSpec(destination=mount.destination, type=mount.type, source=mount.source,
                               options=list(mount.options)))
    return table

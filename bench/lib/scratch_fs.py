"""A scratch ext4 file system in a sparse image file, loop-mounted, for a benchmark that
writes millions of small files.

Why: on a file system mounted with `discard` (this machine's root is), every unlink of a
file with a block waits for the device to discard it; removing Postfix's 2,000,000 queue
files and defer logs one by one goes at a few hundred a second (40,000 took two minutes):
well over an hour. On the scratch file
system, mounted without `discard`, the whole queue goes with one unmount and the unlink of
one image file. Both servers of a comparison run on the same kind of scratch file system,
so neither is favoured; fsync goes through the loop device to the image file on the real
disk.

Needs root, `mkfs.ext4`, and a free loop device. The image is sparse: it takes only the
space written into it.
"""

import os
import pathlib
import subprocess

MKFS = "/usr/sbin/mkfs.ext4"


class ScratchFilesystem:
    """`with ScratchFilesystem(directory) as root:` — root is the mounted file system's
    top directory (mode 0755); on exit it is unmounted and the image removed, unless
    `keep` (then both stay, and the way to remove them is printed). Entering raises
    subprocess.SubprocessError or OSError when the file system cannot be made or mounted."""

    def __init__(self, directory, size_gib=32, bytes_per_inode=4096, keep=False):
        """`bytes_per_inode` 4096: enough inodes for one small file per 4 KiB block
        (Postfix's queue: two files per message)."""
        self.keep = keep
        self.directory = pathlib.Path(directory)
        self.image = self.directory / "scratch.img"
        self.root = self.directory / "scratch"
        self.size = size_gib * 1024 ** 3
        self.bytes_per_inode = bytes_per_inode
        self._mounted = False

    def __enter__(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.image, "wb") as image:
            image.truncate(self.size)
        # Inode tables are left to be initialised lazily and the kernel's background
        # initialiser is turned off (noinit_itable): zeroing them would be gigabytes of
        # writes competing with the benchmark, and a scratch file system needs no fsck.
        subprocess.run([MKFS, "-q", "-F", "-m", "0", "-i", str(self.bytes_per_inode),
                        "-E", "lazy_itable_init=1", str(self.image)], check=True, timeout=300,
                       stdin=subprocess.DEVNULL)
        self.root.mkdir(exist_ok=True)
        subprocess.run(["mount", "-o", "loop,noinit_itable", str(self.image), str(self.root)],
                       check=True, timeout=60, stdin=subprocess.DEVNULL)
        self._mounted = True
        os.chmod(self.root, 0o755)
        return self.root

    def __exit__(self, *exc):
        if self.keep and self._mounted:
            print(f"kept {self.root} (mounted); remove with: umount {self.root} && rm "
                  f"{self.image}", flush=True)
            return
        if self._mounted:
            result = subprocess.run(["umount", str(self.root)], timeout=300,
                                    stdin=subprocess.DEVNULL, capture_output=True, text=True)
            if result.returncode != 0:
                print(f"warning: could not unmount {self.root}: {result.stderr.strip()}; "
                      f"unmount it and remove {self.image} by hand", flush=True)
                return
            self._mounted = False
        self.image.unlink(missing_ok=True)
        try:
            self.root.rmdir()
        except OSError:
            pass

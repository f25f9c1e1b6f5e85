# shellcheck shell=sh
# Runs inside the debootstrapped root of the python stand-in (chroot, /bin/sh -eu).
# The official python image has no PEP 668 marker (pip may install anywhere)
# and a `python` command.
rm -f /usr/lib/python3*/EXTERNALLY-MANAGED
ln -sf python3 /usr/bin/python
[ -x /usr/bin/pydoc3 ] && ln -sf pydoc3 /usr/bin/pydoc
python --version
